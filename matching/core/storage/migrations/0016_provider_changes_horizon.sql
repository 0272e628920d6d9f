-- The provider change log is pruned after MATCHING_CHANGE_LOG_RETENTION_HOURS, as the index
-- change log is. The last seq pruned: a replica's provider index whose position is below it
-- missed changes that replaying can no longer give it, and reloads from the database.
CREATE TABLE provider_changes_horizon (
    only_row       boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    pruned_through bigint NOT NULL DEFAULT 0
);
INSERT INTO provider_changes_horizon DEFAULT VALUES;
