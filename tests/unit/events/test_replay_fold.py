"""Replay's fold and diff, without a database."""

from __future__ import annotations

from nova.platform.events.replay import (
    Accounts,
    Blocks,
    Difference,
    DifferenceKind,
    ReplayedEvent,
    Rows,
    diff,
)


def _event(event_type: str, version: int, **payload: str) -> ReplayedEvent:
    return ReplayedEvent(event_type, "default", "u1", version, {"user_id": "u1", **payload})


def test_blocks_fold_in_version_order_and_an_unblock_removes_the_pair() -> None:
    rows: Rows = {}
    history = [
        _event("Blocked", 1, blocked_id="u2"),
        _event("ProfileUpdated", 2),
        _event("Blocked", 3, blocked_id="u3"),
        _event("Unblocked", 4, blocked_id="u2"),
    ]

    for e in history:
        Blocks().apply(rows, e)

    assert rows == {("u1", "u3"): {"tenant_id": "default"}}


def test_diff_names_missing_extra_and_mismatched_rows_in_a_stable_order() -> None:
    accounts = Accounts()
    expected: Rows = {}
    accounts.apply(expected, _event("UserRegistered", 1, username="ann"))
    accounts.apply(
        expected, ReplayedEvent("UserRegistered", "default", "u9", 1, {"username": "zed"})
    )
    actual: Rows = {
        ("u1",): {"tenant_id": "default", "username": "anne"},
        ("u5",): {"tenant_id": "default", "username": "eve"},
    }

    found = diff(accounts, expected=expected, actual=actual)

    assert found == [
        Difference(DifferenceKind.MISSING, "users", (("id", "u9"),)),
        Difference(DifferenceKind.EXTRA, "users", (("id", "u5"),)),
        Difference(
            DifferenceKind.MISMATCH,
            "users",
            (("id", "u1"),),
            field="username",
            expected="ann",
            actual="anne",
        ),
    ]
    assert [str(d).split(":")[0] for d in found] == [
        "missing users id=u9",
        "extra users id=u5",
        "mismatch users id=u1 username",
    ]
