-- Transactional outbox: an event is written in the same transaction as the change it
-- describes; the relay publishes it to Kafka and marks it only after the broker acknowledged.
CREATE TABLE event_outbox (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    topic        text NOT NULL CHECK (length(topic) BETWEEN 1 AND 249),
    message_key  text NOT NULL,
    event_type   text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 100),
    payload      jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
-- The relay's scan: unpublished events in id order.
CREATE INDEX event_outbox_pending_idx ON event_outbox (id) WHERE published_at IS NULL;
CREATE INDEX event_outbox_published_idx ON event_outbox (published_at) WHERE published_at IS NOT NULL;
