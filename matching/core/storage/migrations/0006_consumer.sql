-- Consumer inbox: one row per consumed message whose effects were applied, written in the
-- same transaction as those effects, so a redelivered message (a rebalance, a crash before
-- the offset commit, a producer retry) changes nothing. Rows older than the longest possible
-- redelivery delay can be pruned (processed_at).
CREATE TABLE consumer_inbox (
    message_id   text PRIMARY KEY CHECK (length(message_id) BETWEEN 1 AND 400),
    topic        text NOT NULL CHECK (length(topic) BETWEEN 1 AND 249),
    partition    integer NOT NULL CHECK (partition >= 0),
    "offset"     bigint NOT NULL CHECK ("offset" >= 0),
    event_type   text,
    processed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consumer_inbox_processed_at_idx ON consumer_inbox (processed_at);
