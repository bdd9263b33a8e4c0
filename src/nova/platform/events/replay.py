"""Replay the audit store: fold its events into the state they imply and diff the tables.

``nova events replay`` reads, in one read-only ``REPEATABLE READ`` snapshot, every audited
event (:data:`nova.platform.events.audit.AUDITED`) from ``event_store`` plus the outbox rows
of audited types the audit consumer has not recorded yet, folds them per aggregate in
``aggregate_version`` order, and compares the result with the tables. A business row and its
outbox row commit together, so within one snapshot a live system compares exactly: a change
is either in both or in neither.

What the events carry, and therefore what is rebuilt (nothing else is claimed):

==============  ======================================  ====================================
table           rebuilt from                            compared
==============  ======================================  ====================================
``users``       ``UserRegistered`` (payload            that the account exists; its
                ``user_id``, ``username``)             ``tenant_id`` and ``username``
``blocks``      ``Blocked`` / ``Unblocked`` of the     which (blocker, blocked) pairs
                blocker (payload ``blocked_id``)       exist; their ``tenant_id``
==============  ======================================  ====================================

Email, password hashes, profiles and counters are not in the events (payloads hold no
secrets), so they are not checked. ``PasswordChanged``, ``RoleGranted`` and the other audited
types are not emitted by any service yet; when they are, a :class:`Projection` for them goes
in :data:`PROJECTIONS`. Rows written around the event pipeline (``nova seed`` COPYs accounts)
have no events and are reported as ``extra``.

Example:
    >>> report = await replay.compare(conn)                              # doctest: +SKIP
    >>> report.ok, [str(d) for d in report.differences]
    (False, ['extra blocks blocker_id=…,blocked_id=…: in the table, not in the events'])
"""

from __future__ import annotations

import dataclasses
import enum
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from typing_extensions import override

from nova.platform.events.audit import AUDITED

if TYPE_CHECKING:
    import asyncpg

__all__ = [
    "PROJECTIONS",
    "Accounts",
    "Blocks",
    "Difference",
    "DifferenceKind",
    "Projection",
    "ReplayReport",
    "ReplayedEvent",
    "Rows",
    "compare",
    "diff",
]

#: Rows of one table as the events imply them: key columns → (field → value).
Rows = dict[tuple[str, ...], dict[str, str]]


class DifferenceKind(enum.StrEnum):
    """How a table disagrees with its events."""

    MISSING = "missing"  # the events say the row exists; the table has no such row
    EXTRA = "extra"  # the table has a row no event explains
    MISMATCH = "mismatch"  # both have the row; a field differs


@dataclasses.dataclass(frozen=True, slots=True)
class Difference:
    """One disagreement between the events and a table.

    Attributes:
        kind: Missing row, extra row or field mismatch.
        table: The table.
        key: Key columns → values of the row.
        field: The differing field (mismatches only).
        expected: What the events imply (``None``: no row).
        actual: What the table holds (``None``: no row).
    """

    kind: DifferenceKind
    table: str
    key: tuple[tuple[str, str], ...]
    field: str | None = None
    expected: str | None = None
    actual: str | None = None

    @override
    def __str__(self) -> str:
        key = ",".join(f"{k}={v}" for k, v in self.key)
        if self.kind is DifferenceKind.MISSING:
            return f"missing {self.table} {key}: in the events, not in the table"
        if self.kind is DifferenceKind.EXTRA:
            return f"extra {self.table} {key}: in the table, not in the events"
        return (
            f"mismatch {self.table} {key} {self.field}:"
            f" events say {self.expected!r}, table has {self.actual!r}"
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayedEvent:
    """The facts of one audited event a projection folds."""

    event_type: str
    tenant_id: str
    aggregate_id: str
    aggregate_version: int
    payload: dict[str, Any]


class Projection(Protocol):
    """Rebuilds one table from events and reads the same shape back from the table."""

    table: str
    key: tuple[str, ...]

    def apply(self, rows: Rows, event: ReplayedEvent) -> None:
        """Fold ``event`` into ``rows`` (events arrive per aggregate, in version order)."""
        ...

    async def load(self, conn: asyncpg.Connection) -> Rows:
        """The table's rows in the projection's shape."""
        ...


class Accounts:
    """``users``: an account per ``UserRegistered``, with its tenant and username."""

    table: str = "users"
    key: tuple[str, ...] = ("id",)

    def apply(self, rows: Rows, event: ReplayedEvent) -> None:
        """Record the registered account."""
        if event.event_type == "UserRegistered":
            user_id = str(event.payload.get("user_id", event.aggregate_id))
            rows[(user_id,)] = {
                "tenant_id": event.tenant_id,
                "username": str(event.payload.get("username", "")),
            }

    async def load(self, conn: asyncpg.Connection) -> Rows:
        """Every account's id, tenant and username."""
        found = await conn.fetch("SELECT id::text AS id, tenant_id, username FROM users")
        return {(r["id"],): {"tenant_id": r["tenant_id"], "username": r["username"]} for r in found}


class Blocks:
    """``blocks``: a pair per ``Blocked`` not undone by a later ``Unblocked``."""

    table: str = "blocks"
    key: tuple[str, ...] = ("blocker_id", "blocked_id")

    def apply(self, rows: Rows, event: ReplayedEvent) -> None:
        """Add or remove the blocker's pair."""
        if event.event_type not in {"Blocked", "Unblocked"}:
            return
        blocker = str(event.payload.get("user_id", event.aggregate_id))
        pair = (blocker, str(event.payload.get("blocked_id", "")))
        if event.event_type == "Blocked":
            rows[pair] = {"tenant_id": event.tenant_id}
        else:
            rows.pop(pair, None)

    async def load(self, conn: asyncpg.Connection) -> Rows:
        """Every block pair and its tenant."""
        found = await conn.fetch(
            "SELECT blocker_id::text AS blocker, blocked_id::text AS blocked, tenant_id FROM blocks"
        )
        return {(r["blocker"], r["blocked"]): {"tenant_id": r["tenant_id"]} for r in found}


#: The tables replay rebuilds, in report order.
PROJECTIONS: tuple[Projection, ...] = (Accounts(), Blocks())


@dataclasses.dataclass(frozen=True, slots=True)
class ReplayReport:
    """Outcome of :func:`compare`.

    Attributes:
        recorded: Events folded from the audit store.
        pending: Events folded from the outbox (committed, not yet in the audit store).
        rows: Table → rows the table holds.
        differences: Every disagreement, grouped by table, sorted by kind and key.
    """

    recorded: int
    pending: int
    rows: dict[str, int]
    differences: tuple[Difference, ...]

    @property
    def ok(self) -> bool:
        """True when every table matches its events."""
        return not self.differences


_EVENTS = """
SELECT event_type, tenant_id, aggregate_type, aggregate_id, aggregate_version,
       payload::text AS payload, recorded
FROM (
    SELECT event_type, tenant_id, aggregate_type, aggregate_id, aggregate_version, payload,
           true AS recorded
    FROM event_store
    UNION ALL
    SELECT o.event_type, o.tenant_id, o.aggregate_type, o.aggregate_id, o.aggregate_version,
           o.payload, false
    FROM outbox o
    WHERE o.event_type = ANY($1::text[])
      AND NOT EXISTS (SELECT 1 FROM event_store s WHERE s.event_id = o.event_id)
) AS e
ORDER BY aggregate_type, aggregate_id, aggregate_version
"""


def diff(projection: Projection, *, expected: Rows, actual: Rows) -> list[Difference]:
    """The differences between the rows ``expected`` from events and the ``actual`` table."""
    out: list[Difference] = []
    for key in sorted(expected.keys() | actual.keys()):
        named = tuple(zip(projection.key, key, strict=True))
        want, have = expected.get(key), actual.get(key)
        if have is None:
            out.append(Difference(DifferenceKind.MISSING, projection.table, named))
        elif want is None:
            out.append(Difference(DifferenceKind.EXTRA, projection.table, named))
        else:
            out.extend(
                Difference(
                    DifferenceKind.MISMATCH,
                    projection.table,
                    named,
                    field=name,
                    expected=value,
                    actual=have.get(name),
                )
                for name, value in sorted(want.items())
                if have.get(name) != value
            )
    order = list(DifferenceKind)
    return sorted(out, key=lambda d: (order.index(d.kind), d.key, d.field or ""))


async def compare(
    conn: asyncpg.Connection, *, projections: tuple[Projection, ...] = PROJECTIONS
) -> ReplayReport:
    """Rebuild each projection's table from the audited events and compare, in one snapshot.

    Args:
        conn: A connection outside a transaction (one read-only snapshot is opened on it).
        projections: The tables to rebuild.
    """
    expected: dict[str, Rows] = {p.table: {} for p in projections}
    counts = {True: 0, False: 0}
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        async for row in conn.cursor(_EVENTS, sorted(AUDITED), prefetch=1_000):
            counts[bool(row["recorded"])] += 1
            event = ReplayedEvent(
                event_type=row["event_type"],
                tenant_id=row["tenant_id"],
                aggregate_id=row["aggregate_id"],
                aggregate_version=row["aggregate_version"],
                payload=orjson.loads(row["payload"]),
            )
            for projection in projections:
                projection.apply(expected[projection.table], event)
        actual = {p.table: await p.load(conn) for p in projections}
    differences = [
        d for p in projections for d in diff(p, expected=expected[p.table], actual=actual[p.table])
    ]
    return ReplayReport(
        recorded=counts[True],
        pending=counts[False],
        rows={table: len(rows) for table, rows in actual.items()},
        differences=tuple(differences),
    )
