-- Profiles and the preferences each person sets.
CREATE TABLE profiles (
    id               uuid PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    headline         text CHECK (length(headline) <= 300),
    bio              text CHECK (length(bio) <= 4000),
    industry         text CHECK (length(industry) <= 100),
    job_title        text CHECK (length(job_title) <= 200),
    job_level        text CHECK (job_level IN ('intern', 'entry', 'mid', 'senior', 'lead',
                                 'manager', 'director', 'vp', 'executive', 'founder')),
    company          text CHECK (length(company) <= 200),
    company_size     text CHECK (company_size IN ('1-10', '11-50', '51-200', '201-1000',
                                 '1001-5000', '5001+')),
    skills           text[] NOT NULL DEFAULT '{}',
    interests        text[] NOT NULL DEFAULT '{}',
    networking_goals text[] NOT NULL DEFAULT '{}',
    languages        text[] NOT NULL DEFAULT '{}',
    latitude         double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude        double precision CHECK (longitude BETWEEN -180 AND 180),
    age              smallint CHECK (age BETWEEN 16 AND 120),
    gender           text CHECK (gender IN ('female', 'male', 'non_binary', 'other',
                                 'prefer_not_to_say')),
    active           boolean NOT NULL DEFAULT true,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    last_active_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT profiles_both_coordinates CHECK ((latitude IS NULL) = (longitude IS NULL))
);
CREATE INDEX profiles_active_last_active_idx ON profiles (last_active_at DESC) WHERE active;
CREATE INDEX profiles_company_idx ON profiles (lower(company)) WHERE company IS NOT NULL;
CREATE INDEX profiles_interests_gin ON profiles USING gin (interests);

CREATE TABLE matching_preferences (
    user_id             uuid PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    age_min             smallint CHECK (age_min BETWEEN 16 AND 120),
    age_max             smallint CHECK (age_max BETWEEN 16 AND 120),
    distance_km         double precision CHECK (distance_km > 0 AND distance_km <= 20000),
    industries          text[] NOT NULL DEFAULT '{}',
    job_levels          text[] NOT NULL DEFAULT '{}',
    company_sizes       text[] NOT NULL DEFAULT '{}',
    interests           text[] NOT NULL DEFAULT '{}',
    networking_goals    text[] NOT NULL DEFAULT '{}',
    languages           text[] NOT NULL DEFAULT '{}',
    exclude_colleagues  boolean NOT NULL DEFAULT false,
    exclude_competitors boolean NOT NULL DEFAULT false,
    algorithm_weights   jsonb CHECK (algorithm_weights IS NULL
                                     OR jsonb_typeof(algorithm_weights) = 'object'),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT matching_preferences_age_range CHECK (age_min IS NULL OR age_max IS NULL
                                                     OR age_min <= age_max)
);

-- Per-user features and the embedding of the profile text. The embedding is little-endian
-- float32 bytes: PostgreSQL 15 here has no pgvector, and bytea loads 100k rows in a second.
CREATE TABLE user_features (
    user_id              uuid PRIMARY KEY REFERENCES profiles (id) ON DELETE CASCADE,
    feature_vector       real[] NOT NULL DEFAULT '{}',
    feature_names        text[] NOT NULL DEFAULT '{}',
    embedding            bytea,
    embedding_dim        integer CHECK (embedding_dim > 0),
    model_version        text,
    profile_completeness real CHECK (profile_completeness BETWEEN 0 AND 1),
    activity_score       real CHECK (activity_score BETWEEN 0 AND 1),
    computed_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_features_embedding_shape CHECK (
        embedding IS NULL OR octet_length(embedding) = 4 * embedding_dim),
    CONSTRAINT user_features_embedding_versioned CHECK (
        embedding IS NULL OR model_version IS NOT NULL)
);
CREATE INDEX user_features_model_version_idx ON user_features (model_version);
