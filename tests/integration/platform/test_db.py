import asyncio
import sys

import pytest

from nova.platform import errors
from nova.platform.db import Database, PoolPolicy, migrate
from nova.platform.testing import TestEngines

pytestmark = pytest.mark.integration


async def test_migrated_schema_has_default_tenant(db: Database) -> None:
    async with db.read() as conn:
        assert await conn.fetchval("SELECT id FROM tenants") == "default"


async def test_write_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as conn:
            await conn.execute("INSERT INTO tenants (id, name) VALUES ('t2', 'T2')")
            raise RuntimeError("boom")
    async with db.read() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tenants") == 1


async def test_saturated_pool_rejects_fast_and_leaks_nothing(database_url: str) -> None:
    policy = PoolPolicy(size=2, acquire_timeout=0.3, queue_ratio=1.0, reject_above=1.0)
    database = await Database.connect(database_url, policy=policy)
    outcomes: list[str] = []

    async def hold() -> None:
        try:
            async with database.read() as conn:
                await conn.execute("SELECT pg_sleep(0.2)")
            outcomes.append("ok")
        except errors.PoolExhaustedError:
            outcomes.append("rejected")

    await asyncio.gather(*(hold() for _ in range(20)))
    assert outcomes.count("ok") >= 2
    assert outcomes.count("rejected") >= 10
    assert database.stats.in_use == 0
    assert database.stats.waiting == 0
    await database.close()


async def test_timed_out_statement_discards_connection(database_url: str) -> None:
    database = await Database.connect(database_url, policy=PoolPolicy(size=1, command_timeout=0.2))
    with pytest.raises(TimeoutError):
        async with database.read() as conn:
            await conn.execute("SELECT pg_sleep(2)")
    async with database.read() as conn:
        assert await conn.fetchval("SELECT 1") == 1
    assert database.stats.timeouts == 1
    await database.close()


async def test_migrations_reverse_and_reapply(database_url: str) -> None:
    reverted = await migrate.downgrade(database_url, "base")
    assert reverted[-1] == "0001"
    reapplied = await migrate.upgrade(database_url)
    assert reapplied[0] == "0001"
    assert await migrate.upgrade(database_url) == []


async def test_concurrent_migrator_processes_apply_each_revision_once(
    nova_engines: TestEngines,
) -> None:
    url = await nova_engines.create_database()  # already migrated from the template
    script = (
        "import asyncio, sys\n"
        "from nova.platform.db import migrate\n"
        "print(','.join(asyncio.run(migrate.upgrade(sys.argv[1]))))\n"
    )
    try:
        await migrate.downgrade(url, "base")
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", script, url, stdout=asyncio.subprocess.PIPE
            )
            for _ in range(3)
        ]
        outputs = [(await p.communicate())[0].decode().strip() for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0]
        applied = [rev for out in outputs for rev in out.split(",") if rev]
        assert applied.count("0001") == 1
    finally:
        await nova_engines.drop_database(url)
