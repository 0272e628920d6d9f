-- Who was erased, as salted hashes, so a stale event naming them (a Kafka replay, a late
-- user.updated) is ignored instead of bringing them back. Kept for the platform's replay
-- window (MATCHING_ERASURE_RETENTION_DAYS), then pruned. The table holds no ids: the hash
-- is sha256(salt || the id's 16 bytes), with a random salt made here, once per database, so
-- the hashes cannot be checked against ids without this database's salt.
CREATE TABLE erasure_salt (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    salt     bytea NOT NULL CHECK (octet_length(salt) = 32)
);
INSERT INTO erasure_salt (salt)
VALUES (uuid_send(gen_random_uuid()) || uuid_send(gen_random_uuid()));

CREATE TABLE erasures (
    user_hash bytea PRIMARY KEY CHECK (octet_length(user_hash) = 32),
    erased_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX erasures_erased_at_idx ON erasures (erased_at);

-- The index change log is pruned after MATCHING_CHANGE_LOG_RETENTION_HOURS (its rows name
-- people, erased ones too). The last seq pruned: a retriever replica whose position is below
-- it missed changes that replaying can no longer give it, and reloads from the database.
CREATE TABLE index_changes_horizon (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO index_changes_horizon DEFAULT VALUES;
