-- Wake the outbox relay when events are written instead of waiting for its next poll.
-- FOR EACH STATEMENT with a constant payload: PostgreSQL folds the identical notifications of
-- one transaction into one, delivered at commit (never for a rolled-back transaction). The
-- relay polls too (MATCHING_RELAY_POLL_S), so a lost notification only delays an event.
CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('matching_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify();
