-- Genders a person wants to see (empty: everyone), a two-sided hard filter like age.
ALTER TABLE matching_preferences
    ADD COLUMN show_me text[] NOT NULL DEFAULT '{}'
    CONSTRAINT matching_preferences_show_me_genders CHECK (
        show_me <@ ARRAY['female', 'male', 'non_binary', 'other', 'prefer_not_to_say']::text[]);
