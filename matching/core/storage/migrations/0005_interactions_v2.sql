-- Blocks, event registrations, daily swipe statistics and the indexes the swipe/match
-- storage layer (matching/storage/swipes.py, matches.py, analytics.py) reads through.
-- Runs in one transaction (migrate.py), so indexes are built with plain CREATE INDEX: on a
-- large live table, build them CONCURRENTLY by hand first and this file's IF NOT EXISTS
-- makes it a no-op for them.

-- Either direction hides the two people from each other and stops a match forming.
CREATE TABLE user_blocks (
    blocker_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    blocked_id uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CONSTRAINT user_blocks_not_self CHECK (blocker_id <> blocked_id)
);
-- "who blocked me" (the other direction) and the ON DELETE CASCADE from profiles.
CREATE INDEX user_blocks_blocked_idx ON user_blocks (blocked_id);

-- Who registered for which (external) event, from the event.events topic.
CREATE TABLE event_registrations (
    event_id       text NOT NULL CHECK (length(event_id) BETWEEN 1 AND 200),
    user_id        uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    event_category text CHECK (length(event_category) <= 100),
    event_tags     text[] NOT NULL DEFAULT '{}',
    registered_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, user_id)
);
CREATE INDEX event_registrations_user_idx ON event_registrations (user_id);

-- A user's matches newest first (list_matches keyset pagination on (updated_at, id)): one
-- index per side of the ordered pair; the query is a UNION ALL of the two index scans.
CREATE INDEX IF NOT EXISTS user_matches_user1_recent_idx
    ON user_matches (user1_id, updated_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS user_matches_user2_recent_idx
    ON user_matches (user2_id, updated_at DESC, id DESC);

-- Deleting a profile cascades into matching_analytics.target_user_id: without an index
-- every profile deletion would scan the whole (append-heavy) analytics table.
CREATE INDEX IF NOT EXISTS matching_analytics_target_idx
    ON matching_analytics (target_user_id) WHERE target_user_id IS NOT NULL;

-- Swipes per UTC day (by the swipe's last change). Refreshed by analytics.refresh_stats with
-- REFRESH MATERIALIZED VIEW CONCURRENTLY, which needs the unique index below and blocks
-- neither writers of swipe_history nor readers of the view.
CREATE MATERIALIZED VIEW daily_swipe_stats AS
SELECT (updated_at AT TIME ZONE 'UTC')::date                 AS day,
       count(*)                                              AS swipes,
       count(*) FILTER (WHERE action = 'like')               AS likes,
       count(*) FILTER (WHERE action = 'pass')               AS passes,
       count(*) FILTER (WHERE action = 'super_like')         AS super_likes
FROM swipe_history
GROUP BY 1
WITH DATA;
CREATE UNIQUE INDEX daily_swipe_stats_day_idx ON daily_swipe_stats (day);
