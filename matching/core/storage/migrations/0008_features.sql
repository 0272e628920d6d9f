-- Per-user features: a profile photo (the feature is whether there is one), and the
-- indexes the feature queries (matching.storage.features.INPUTS_SQL) count through.
ALTER TABLE profiles ADD COLUMN photo_url text
    CHECK (photo_url IS NULL OR (length(photo_url) <= 2000 AND photo_url ~ '^https?://'));
-- likes given per user: the primary key (swiper_id, swiped_id) already serves counts by
-- swiper; received likes use swipe_history_swiped_idx (swiped_id, action).
