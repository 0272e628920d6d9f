-- Mutual matches whose score is pending (created while the scoring stages were unavailable:
-- compatibility_score NULL), oldest first: what discovery's maintenance scores every minute.
-- Partial, so it stays as small as the backlog and costs nothing to scored matches.
CREATE INDEX IF NOT EXISTS user_matches_score_pending_idx
    ON user_matches (created_at, id)
    WHERE status = 'mutual' AND compatibility_score IS NULL;
