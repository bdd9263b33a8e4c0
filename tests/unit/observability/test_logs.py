import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from nova.platform.observability import logs
from tests.capture import json_log_lines


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    with json_log_lines("nova-test", level="INFO") as buffer:
        yield buffer


def lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_lines_inside_a_handler_carry_the_context_and_only_vocabulary_keys(
    captured: io.StringIO,
) -> None:
    async def handler(n: int) -> None:
        with logs.bound(correlation_id=f"c{n}", trace_id=f"{n:032x}", **{"user.id": "u"}):
            logging.getLogger("nova.test").info("stdlib line %d", n)
            structlog.get_logger("nova.test").info("structlog line", duration_ms=1.5)

    async def main() -> None:
        await asyncio.gather(handler(1), handler(2))

    asyncio.run(main())
    records = lines(captured)
    assert len(records) == 4
    for record in records:
        assert set(record) <= set(logs.VOCABULARY), set(record) - set(logs.VOCABULARY)
        for key in logs.REQUIRED_IN_CONTEXT:
            assert record[key]
        assert record["service.name"] == "nova-test"
    assert {r["correlation_id"] for r in records} == {"c1", "c2"}
    assert records[0]["message"] == "stdlib line 1"


def test_context_does_not_leak_after_the_block(captured: io.StringIO) -> None:
    with logs.bound(correlation_id="inside", trace_id="t"):
        pass
    logging.getLogger("nova.test").warning("outside")
    (record,) = lines(captured)
    assert "correlation_id" not in record
    assert record["level"] == "warning"


def test_exceptions_are_rendered_for_the_server_log(captured: io.StringIO) -> None:
    def fail() -> None:
        raise ValueError("boom")

    try:
        fail()
    except ValueError:
        logging.getLogger("nova.test").exception("failed")
    (record,) = lines(captured)
    assert "ValueError: boom" in str(record["exception"])
