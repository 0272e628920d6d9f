-- The change log every retriever replica replays: written in the same transaction as the
-- profile change, so the database and every live index agree after any failure.
CREATE TABLE index_changes (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    uuid NOT NULL,
    op         text NOT NULL CHECK (op IN ('upsert', 'delete')),
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX index_changes_changed_at_idx ON index_changes (changed_at);
