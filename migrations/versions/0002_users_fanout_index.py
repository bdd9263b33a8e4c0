"""Users: index for fan-out's active-follower scan.

``active_follower_ids`` pages an author's followers in follower-id order (keyset on id). The
0001 indexes order followers by ``created_at``, so every page sorted all followers of the author:
O(followers) per page, O(followers² / page) per fan-out. This index makes each page a range scan.

Revision ID: 0002_users
Revises: 0001
Create Date: 2026-11-28
"""

from alembic import op

revision = "0002_users"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE INDEX: migrations run in one transaction, where CONCURRENTLY is not allowed.
    # On a large live table, build it CONCURRENTLY by hand first; IF NOT EXISTS then skips it.
    op.execute(
        "CREATE INDEX IF NOT EXISTS follows_followee_follower ON follows (followee_id, follower_id)"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS follows_followee_follower")
