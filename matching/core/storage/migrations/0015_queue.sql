-- The real-time queue's durable history (matching.queue). Redis holds the live state and
-- decides every transition; the history writer applies each transition here in order, in
-- one transaction with its cursor, so a replay after a failure changes nothing twice.
CREATE TABLE queue_tickets (
    id                uuid PRIMARY KEY,
    user_id           uuid NOT NULL,
    criteria          jsonb NOT NULL,
    client_request_id text,
    status            text NOT NULL CHECK (status IN
                          ('pending', 'matched', 'confirmed', 'expired', 'cancelled')),
    match_id          uuid,
    requeues          integer NOT NULL DEFAULT 0,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL,
    ended_at          timestamptz
);
CREATE INDEX queue_tickets_user ON queue_tickets (user_id, created_at DESC);

CREATE TABLE queue_matches (
    id            uuid PRIMARY KEY,
    ticket_a      uuid NOT NULL,
    ticket_b      uuid NOT NULL,
    user_a        uuid NOT NULL,
    user_b        uuid NOT NULL,
    criteria      jsonb NOT NULL,
    relaxation    jsonb NOT NULL DEFAULT '{}',
    status        text NOT NULL CHECK (status IN
                      ('pending', 'confirmed', 'declined', 'expired', 'cancelled')),
    reason        text,
    created_at    timestamptz NOT NULL,
    deadline      timestamptz NOT NULL,
    -- how long the older ticket had waited (from its first enqueue) when the match was made
    wait_ms       bigint,
    a_confirmed_at timestamptz,
    b_confirmed_at timestamptz,
    ended_at      timestamptz
);
CREATE INDEX queue_matches_user_a ON queue_matches (user_a);
CREATE INDEX queue_matches_user_b ON queue_matches (user_b);
CREATE INDEX queue_matches_created ON queue_matches (created_at);

CREATE TABLE queue_sessions (
    id         uuid PRIMARY KEY,
    match_id   uuid NOT NULL,
    user_a     uuid NOT NULL,
    user_b     uuid NOT NULL,
    criteria   jsonb NOT NULL,
    item_id    text,
    created_at timestamptz NOT NULL,
    ended_at   timestamptz,
    left_by    uuid
);
CREATE INDEX queue_sessions_user_a ON queue_sessions (user_a);
CREATE INDEX queue_sessions_user_b ON queue_sessions (user_b);

-- The last history stream id applied (one row per Redis prefix).
CREATE TABLE queue_history_cursor (
    prefix  text PRIMARY KEY,
    last_id text NOT NULL
);
