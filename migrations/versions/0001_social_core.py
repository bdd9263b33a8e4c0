"""Social core: tenants, users, graph, content, outbox, tokens, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE tenants (
    id          text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO tenants (id, name) VALUES ('default', 'Default tenant');

CREATE TABLE users (
    id               uuid PRIMARY KEY,
    tenant_id        text NOT NULL REFERENCES tenants (id),
    username         text NOT NULL CHECK (username ~ '^[A-Za-z0-9_]{3,30}$'),
    email            text NOT NULL CHECK (length(email) BETWEEN 3 AND 254),
    password_hash    text NOT NULL,
    display_name     text NOT NULL DEFAULT '' CHECK (length(display_name) <= 100),
    bio              text NOT NULL DEFAULT '' CHECK (length(bio) <= 500),
    avatar_media_id  uuid,
    is_private       boolean NOT NULL DEFAULT false,
    follower_count   integer NOT NULL DEFAULT 0 CHECK (follower_count >= 0),
    following_count  integer NOT NULL DEFAULT 0 CHECK (following_count >= 0),
    post_count       integer NOT NULL DEFAULT 0 CHECK (post_count >= 0),
    last_active_at   timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- text_pattern_ops serves both the uniqueness check and prefix search (searchUsers).
CREATE UNIQUE INDEX users_tenant_username_key
    ON users (tenant_id, lower(username) text_pattern_ops);
CREATE UNIQUE INDEX users_tenant_email_key ON users (tenant_id, lower(email));

CREATE TABLE media (
    id            uuid PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id),
    owner_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    url           text NOT NULL,
    content_type  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX media_owner ON media (owner_id, id DESC);
ALTER TABLE users ADD CONSTRAINT users_avatar_fkey
    FOREIGN KEY (avatar_media_id) REFERENCES media (id) ON DELETE SET NULL;

CREATE TABLE follows (
    tenant_id    text NOT NULL REFERENCES tenants (id),
    follower_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (follower_id, followee_id),
    CHECK (follower_id <> followee_id)
);
-- Followers page and fan-out; following page is served by the primary key's prefix plus this.
CREATE INDEX follows_followee_page ON follows (followee_id, created_at DESC, follower_id DESC);
CREATE INDEX follows_follower_page ON follows (follower_id, created_at DESC, followee_id DESC);

CREATE TABLE follow_requests (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    requester_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    target_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (requester_id, target_id),
    CHECK (requester_id <> target_id)
);
CREATE INDEX follow_requests_target_page
    ON follow_requests (target_id, created_at DESC, requester_id DESC);

CREATE TABLE blocks (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    blocker_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    blocked_id  uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (blocker_id, blocked_id),
    CHECK (blocker_id <> blocked_id)
);
CREATE INDEX blocks_blocked ON blocks (blocked_id, blocker_id);

CREATE TABLE mutes (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    muter_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    muted_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (muter_id, muted_id),
    CHECK (muter_id <> muted_id)
);

-- Bumped on every change to a user's blocks, mutes or preferences; fences cache fills.
CREATE TABLE relation_versions (
    user_id  uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version  bigint NOT NULL DEFAULT 0
);

CREATE TABLE preferences (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    data        jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refresh_tokens (
    id           uuid PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id    uuid NOT NULL,
    token_hash   bytea NOT NULL UNIQUE,
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    replaced_by  uuid,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

CREATE TABLE posts (
    id             uuid PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants (id),
    author_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    body           text NOT NULL CHECK (length(body) <= 5000),
    visibility     text NOT NULL CHECK (visibility IN ('public', 'followers', 'private')),
    media_ids      uuid[] NOT NULL DEFAULT '{}',
    like_count     integer NOT NULL DEFAULT 0 CHECK (like_count >= 0),
    comment_count  integer NOT NULL DEFAULT 0 CHECK (comment_count >= 0),
    version        integer NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL DEFAULT now(),
    edited_at      timestamptz,
    deleted_at     timestamptz
);
-- User timeline, timeline rebuild and pulled posts of high-follower authors: newest first by
-- time-ordered id, live posts only.
CREATE INDEX posts_author_live ON posts (author_id, id DESC) WHERE deleted_at IS NULL;

CREATE TABLE comments (
    id          uuid PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id),
    post_id     uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    author_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    parent_id   uuid REFERENCES comments (id) ON DELETE CASCADE,
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 2000),
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX comments_post_page ON comments (post_id, id) WHERE deleted_at IS NULL;
CREATE INDEX comments_parent ON comments (parent_id, id) WHERE parent_id IS NOT NULL;

CREATE TABLE likes (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    post_id     uuid NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (post_id, user_id)
);
CREATE INDEX likes_user ON likes (user_id, created_at DESC);

-- The record of every event: written in the business transaction, relayed after commit.
-- txid lets a relay read only rows below the snapshot horizon, so a row that commits late is
-- never skipped (sequence order is not commit order).
CREATE TABLE outbox (
    seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id        uuid NOT NULL UNIQUE,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    event_type      text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    payload         jsonb NOT NULL,
    correlation_id  text,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    published_at    timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;

CREATE TABLE idempotency_keys (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    operation     text NOT NULL,
    request_hash  text NOT NULL,
    response      jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);
"""

DOWNGRADE = """
DROP TABLE idempotency_keys, outbox, likes, comments, posts, refresh_tokens, preferences,
    relation_versions, mutes, blocks, follow_requests, follows;
ALTER TABLE users DROP CONSTRAINT users_avatar_fkey;
DROP TABLE media, users, tenants;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
