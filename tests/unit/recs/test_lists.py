"""Stored lists' generations and the cursors into them (``nova.recs._lists``)."""

from __future__ import annotations

import uuid

import orjson
import pytest

from nova.recs import _lists
from nova.recs.domain import Ranked, Reason


def _ranked(*posts: int, score: float = 1.0) -> list[Ranked]:
    return [
        Ranked(
            post_id=uuid.UUID(int=p),
            author_id=uuid.UUID(int=1000 + p),
            reason=Reason(sources=("followed",), score=score, parts=(("recency", score),)),
        )
        for p in posts
    ]


def _stored(*posts: int, score: float = 1.0) -> _lists.StoredList:
    return _lists.StoredList(_lists.dump(_ranked(*posts, score=score)))


def test_a_list_round_trips_and_decodes_the_items_read() -> None:
    ranked = _ranked(1, 2, 3)
    stored = _lists.StoredList(_lists.dump(ranked))
    assert len(stored) == 3
    assert stored[1] == ranked[1]
    assert stored[0:2] == ranked[0:2]


def test_the_generation_is_the_order_of_the_post_ids() -> None:
    a = _stored(1, 2, 3)
    assert len(a.generation) == 8
    assert a.generation == _stored(1, 2, 3, score=7.5).generation  # scores drift, order kept
    assert a.generation != _stored(2, 1, 3).generation
    assert a.generation != _stored(2, 3).generation  # the first two shown, then left out
    assert a.generation != _stored(1, 2, 3, 4).generation


def test_a_list_stored_before_generations_has_one() -> None:
    # given: the stored form written by the previous version (no generation field)
    item = {"a": str(uuid.UUID(int=9)), "s": 1.0, "src": ["trending"], "parts": [["source", 1.0]]}
    legacy = orjson.dumps([{"p": str(uuid.UUID(int=p)), **item} for p in (1, 2, 3)])

    # then: the same generation as the list of the same posts written now
    assert _lists.StoredList(legacy).generation == _stored(1, 2, 3).generation


def test_a_cursor_round_trips() -> None:
    cursor = _lists.Cursor(generation=_stored(1, 2).generation, offset=40)
    text = cursor.encode()
    assert text == f"r:{cursor.generation}:40"
    assert _lists.Cursor.parse(text) == cursor


def test_a_cursor_issued_before_generations_is_accepted_with_no_generation() -> None:
    cursor = _lists.Cursor.parse("r:20")
    assert cursor == _lists.Cursor(generation=None, offset=20)
    assert cursor.encode() == "r:20"


def test_a_cursor_resumes_at_its_offset_in_its_own_list_and_at_0_in_another() -> None:
    a, b = _stored(1, 2, 3, 4), _stored(3, 4, 5)
    cursor = _lists.Cursor(generation=a.generation, offset=2)

    assert cursor.start_in(a) == 2
    assert cursor.start_in(_stored(1, 2, 3, 4, score=3.0)) == 2  # recomputed, same order
    assert cursor.start_in(b) == 0
    assert _lists.Cursor(generation=None, offset=2).start_in(b) == 2  # unknown: as before


@pytest.mark.parametrize(
    "text",
    [
        "",
        "r:",
        "r:-1",
        "r:+1",
        "r: 1",
        "r:1.5",
        "r:x",
        "r:\u0663",  # a non-ASCII digit int() would accept
        "r::1",
        "r:AAAAAAAA:",
        "r:AAAAAAAA:-1",
        "r:AAAAAAAA:x",
        "r:AAAAAAA:1",  # generation too short
        "r:AAAAAAAAA:1",  # too long
        "r:AAAA+/AA:1",  # not URL-safe base64
        "r:AAAAAAAA:1:2",
        "r:AAAA:AAAA:1",
        "c:abc",
        "1",
        "x:1",
    ],
)
def test_anything_else_is_not_a_cursor(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        _lists.Cursor.parse(text)
