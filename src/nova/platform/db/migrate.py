"""Schema migrations: Alembic revisions of explicit SQL, applied under an advisory lock.

Several processes may start at once (``nova up --processes``, rolling deploys): each takes a
transaction-scoped advisory lock before Alembic reads the version table, so exactly one applies
each revision and the others find it done.

Example:
    >>> await migrate.upgrade("postgresql://postgres@127.0.0.1/nova")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MIGRATIONS_LOCK_KEY", "downgrade", "migrations_dir", "sqlalchemy_url", "upgrade"]

#: Advisory lock key that serializes migration runs across processes ("nova" in ASCII).
MIGRATIONS_LOCK_KEY = 0x6E6F7661


def migrations_dir() -> Path:
    """The Alembic scripts: packaged in the wheel, else the repository's ``migrations/``."""
    packaged = Path(__file__).resolve().parents[2] / "_migrations"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[4] / "migrations"


def sqlalchemy_url(database_url: str) -> str:
    """Turn a ``postgresql://`` URL into the SQLAlchemy psycopg form Alembic runs on.

    Alembic runs on psycopg (sync) because migrations are multi-statement SQL scripts, which
    need the simple-query protocol that asyncpg's prepared statements do not offer.
    """
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise ValueError(f"not a PostgreSQL URL: scheme {scheme!r}")
    return f"postgresql+psycopg://{rest}"


def _config(database_url: str, applied: list[str]) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["database_url"] = sqlalchemy_url(database_url)
    cfg.attributes["applied"] = applied
    cfg.attributes["lock_key"] = MIGRATIONS_LOCK_KEY
    return cfg


# Alembic keeps its migration context in a module global: one run per process at a time.
# Across processes the advisory lock in env.py serializes them.
_in_process = threading.Lock()


def _locked(fn: Callable[[Config, str], None], cfg: Config, revision: str) -> None:
    with _in_process:
        fn(cfg, revision)


async def upgrade(database_url: str, revision: str = "head") -> list[str]:
    """Apply every pending revision up to ``revision``; return the ids applied, oldest first."""
    applied: list[str] = []
    # Alembic's commands are synchronous; keep them off the event loop.
    await asyncio.to_thread(_locked, command.upgrade, _config(database_url, applied), revision)
    return applied


async def downgrade(database_url: str, revision: str) -> list[str]:
    """Revert to ``revision`` (used by tests that prove every migration reverses cleanly)."""
    applied: list[str] = []
    await asyncio.to_thread(_locked, command.downgrade, _config(database_url, applied), revision)
    return applied
