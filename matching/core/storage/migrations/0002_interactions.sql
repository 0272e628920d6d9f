-- Swipes, matches and analytics: created here, used by the swipes/matches issue.
CREATE TABLE swipe_history (
    swiper_id  uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    swiped_id  uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    action     text NOT NULL CHECK (action IN ('like', 'pass', 'super_like')),
    context    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (swiper_id, swiped_id),
    CONSTRAINT swipe_history_not_self CHECK (swiper_id <> swiped_id)
);
-- "who liked me" lookups for mutual-match detection.
CREATE INDEX swipe_history_swiped_idx ON swipe_history (swiped_id, action);

CREATE TABLE user_matches (
    id                  uuid PRIMARY KEY,
    user1_id            uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user2_id            uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    status              text NOT NULL CHECK (status IN ('pending', 'mutual', 'declined',
                                                        'expired')),
    compatibility_score numeric(5, 4) CHECK (compatibility_score BETWEEN 0 AND 1),
    match_reason        jsonb NOT NULL DEFAULT '{}',
    algorithm_version   text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    expires_at          timestamptz,
    -- One row per unordered pair: user1_id is always the smaller id.
    CONSTRAINT user_matches_ordered_pair CHECK (user1_id < user2_id),
    CONSTRAINT user_matches_pair_unique UNIQUE (user1_id, user2_id)
);
CREATE INDEX user_matches_user2_idx ON user_matches (user2_id, status);
CREATE INDEX user_matches_user1_idx ON user_matches (user1_id, status);
CREATE INDEX user_matches_expiry_idx ON user_matches (expires_at) WHERE status IN ('pending', 'mutual');

CREATE TABLE matching_analytics (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    event_type        text NOT NULL CHECK (length(event_type) BETWEEN 1 AND 64),
    target_user_id    uuid REFERENCES profiles (id) ON DELETE CASCADE,
    algorithm_version text,
    payload           jsonb NOT NULL DEFAULT '{}',
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX matching_analytics_user_idx ON matching_analytics (user_id, created_at DESC);
CREATE INDEX matching_analytics_type_idx ON matching_analytics (event_type, created_at DESC);
