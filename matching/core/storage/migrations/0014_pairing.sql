-- Batch pairing (matching.pairing). A pool's row holds the fencing token of the newest
-- runner that took its Redis lease: every write of a cycle checks `fence = its token` in its
-- own transaction (under the row's lock), so a runner that lost the lease can never write.
CREATE TABLE pairing_pools (
    pool       text PRIMARY KEY CHECK (pool ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    fence      bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Who waits in a pool: cycles_waited counts the cycles they stayed unpaired.
CREATE TABLE pairing_seekers (
    pool          text NOT NULL REFERENCES pairing_pools (pool) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    criteria      jsonb NOT NULL DEFAULT '{}',
    cycles_waited integer NOT NULL DEFAULT 0 CHECK (cycles_waited >= 0),
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pool, user_id)
);
CREATE INDEX pairing_seekers_user_idx ON pairing_seekers (user_id);

CREATE TABLE pairing_cycles (
    id            bigserial PRIMARY KEY,
    pool          text NOT NULL REFERENCES pairing_pools (pool) ON DELETE CASCADE,
    fence         bigint NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    seekers       integer NOT NULL DEFAULT 0,
    pairs         integer NOT NULL DEFAULT 0,
    optimal_total double precision,
    greedy_total  double precision,
    status        text NOT NULL DEFAULT 'running'
                  CHECK (status IN ('running', 'completed', 'failed'))
);
CREATE INDEX pairing_cycles_pool_idx ON pairing_cycles (pool, id DESC);

-- One row per pair, written with the cycle's result; each side-effect column turns true in
-- the transaction that enqueues its outbox event, so a step is done exactly when its event
-- is durable, and reconciliation redoes only what is still false.
CREATE TABLE pairing_audit (
    cycle_id         bigint NOT NULL REFERENCES pairing_cycles (id) ON DELETE CASCADE,
    pair_key         text NOT NULL,
    pool             text NOT NULL,
    user1_id         uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    user2_id         uuid NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    score            double precision NOT NULL,
    pair_recorded    boolean NOT NULL DEFAULT false,
    chat_requested   boolean NOT NULL DEFAULT false,
    user1_notified   boolean NOT NULL DEFAULT false,
    user2_notified   boolean NOT NULL DEFAULT false,
    metadata_updated boolean NOT NULL DEFAULT false,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'completed', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    last_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (cycle_id, pair_key),
    CHECK (user1_id < user2_id)
);
CREATE INDEX pairing_audit_open_idx ON pairing_audit (pool) WHERE status <> 'completed';
CREATE INDEX pairing_audit_user1_idx ON pairing_audit (user1_id, created_at);
CREATE INDEX pairing_audit_user2_idx ON pairing_audit (user2_id, created_at);
