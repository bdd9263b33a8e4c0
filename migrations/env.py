"""Alembic environment: psycopg, under a transaction-scoped advisory lock."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

config = context.config


def _record(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
    applied = config.attributes.get("applied")
    if applied is not None:
        # On a downgrade, up_revision_id is the revision being reverted.
        applied.append(step.up_revision_id)


def _main() -> None:
    engine = create_engine(
        config.attributes["database_url"],
        poolclass=NullPool,
        connect_args={"connect_timeout": 5},
    )
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=None,
                transaction_per_migration=False,
                on_version_apply=_record,
            )
            with context.begin_transaction():
                # Taken before Alembic reads alembic_version and released at commit:
                # concurrent starters queue here, then find the revisions already applied.
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"),
                    {"key": config.attributes["lock_key"]},
                )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Nova's migrations run online only: use `nova migrate`.")
_main()
