"""Event pipeline: full envelope, per-aggregate versions, relay wake-ups, fences, audit store.

- ``outbox`` gains ``aggregate_version``, ``trace_id`` and ``schema_version``; a statement
  trigger NOTIFYs ``nova_outbox`` so relays wake at commit instead of polling.
- ``aggregate_versions`` numbers each aggregate's events. The outbox insert bumps it in the
  business transaction, so writers of one aggregate are serialized by its row lock and seq order
  equals commit order per aggregate (what lets a relay publish in order per aggregate).
- ``event_fences``: the last version of each aggregate a consumer applied (stale events skipped).
- ``event_store``: append-only, hash-chained audit log; UPDATE/DELETE/TRUNCATE raise even for
  a superuser (tests run as one), and no privilege beyond SELECT/INSERT is granted to anyone.

Revision ID: 0004_event_pipeline
Revises: 0003_processed_events
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004_event_pipeline"
down_revision = "0003_processed_events"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE outbox
    ADD COLUMN aggregate_version bigint NOT NULL DEFAULT 0,
    ADD COLUMN trace_id text,
    ADD COLUMN schema_version smallint NOT NULL DEFAULT 1;
-- Pruning scans published rows by age.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

CREATE TABLE aggregate_versions (
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    version         bigint NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Delivered at commit and collapsed per transaction: one wake-up per business write.
    PERFORM pg_notify('nova_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

CREATE TABLE event_fences (
    consumer        text NOT NULL,
    aggregate_type  text NOT NULL,
    aggregate_id    text NOT NULL,
    version         bigint NOT NULL,
    PRIMARY KEY (consumer, aggregate_type, aggregate_id)
);

CREATE TABLE event_store (
    seq                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id           uuid NOT NULL UNIQUE,
    tenant_id          text NOT NULL,
    event_type         text NOT NULL,
    aggregate_type     text NOT NULL,
    aggregate_id       text NOT NULL,
    aggregate_version  bigint NOT NULL,
    payload            jsonb NOT NULL,
    occurred_at        timestamptz NOT NULL,
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    prev_hash          bytea NOT NULL,
    hash               bytea NOT NULL UNIQUE
);
CREATE INDEX event_store_aggregate
    ON event_store (aggregate_type, aggregate_id, aggregate_version);

CREATE FUNCTION event_store_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_store is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER event_store_no_update BEFORE UPDATE OR DELETE ON event_store
    FOR EACH ROW EXECUTE FUNCTION event_store_append_only();
CREATE TRIGGER event_store_no_truncate BEFORE TRUNCATE ON event_store
    FOR EACH STATEMENT EXECUTE FUNCTION event_store_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON event_store FROM PUBLIC;
"""

DOWNGRADE = """
DROP TABLE event_store;
DROP FUNCTION event_store_append_only();
DROP TABLE event_fences, aggregate_versions;
DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION outbox_notify();
DROP INDEX outbox_published;
ALTER TABLE outbox DROP COLUMN aggregate_version, DROP COLUMN trace_id,
    DROP COLUMN schema_version;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
