-- Request matching (matching.requests): providers, the requests they are ranked for, and what
-- came of each match. Providers live apart from `profiles`: a provider need not be a member
-- of the discovery side, and their embedding is of their own text.
CREATE TABLE providers (
    provider_id   uuid PRIMARY KEY,
    body          jsonb NOT NULL,
    embedding     bytea NOT NULL,
    model_version text NOT NULL,
    active        boolean NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Every provider write and delete appends here in its own transaction; each replica's
-- provider catalogue replays what it has not applied before it ranks (as index_changes).
CREATE TABLE provider_changes (
    seq         bigserial PRIMARY KEY,
    provider_id uuid NOT NULL,
    changed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX provider_changes_changed_at_idx ON provider_changes (changed_at);

-- One row per request id: inserted first (pending), so a duplicate finds it and never ranks
-- again; completed or failed with its result in the same transaction as its reply event.
CREATE TABLE match_requests (
    request_id   text PRIMARY KEY CHECK (length(request_id) BETWEEN 1 AND 200),
    requester    text NOT NULL,
    body         jsonb NOT NULL,
    status       text NOT NULL CHECK (status IN ('pending', 'completed', 'failed')),
    result       jsonb,
    error        jsonb,
    reply_to     text,
    correlation_id text,
    attempts     integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX match_requests_requester_idx ON match_requests (requester, created_at DESC);
CREATE INDEX match_requests_pending_idx ON match_requests (updated_at) WHERE status = 'pending';

CREATE TABLE request_outcomes (
    id          bigserial PRIMARY KEY,
    request_id  text NOT NULL REFERENCES match_requests (request_id) ON DELETE CASCADE,
    provider_id uuid NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('contacted', 'booked', 'declined', 'completed')),
    rating      real CHECK (rating BETWEEN 1 AND 5),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX request_outcomes_request_idx ON request_outcomes (request_id);
CREATE INDEX request_outcomes_provider_idx ON request_outcomes (provider_id);
