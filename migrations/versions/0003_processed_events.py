"""Processed events: the exact record idempotent consumers check before applying an effect.

Revision ID: 0003_processed_events
Revises: 0002_users
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003_processed_events"
down_revision = "0002_users"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE processed_events (
        consumer      text NOT NULL,
        event_id      uuid NOT NULL,
        processed_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    );
    CREATE INDEX processed_events_age ON processed_events (processed_at);
    """)


def downgrade() -> None:
    op.execute("DROP TABLE processed_events")
