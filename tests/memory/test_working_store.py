"""One suite, every working-memory store: Redis, the memory module's own database (SQLite
and PostgreSQL: the default without Redis), and the in-process one tests use."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis as redis_sync

from app.kernel.database import open_module_database
from app.kernel.settings import Settings
from app.modules.memory.database_store import DatabaseStore
from app.modules.memory.redis_store import RedisStore
from app.modules.memory.working_store import InProcessStore, WorkingStore
from contracts.memory import WorkingMemoryUnavailable
from tests.conftest import empty_postgres_tables

from .conftest import Clock

TTL = {"ttl_s": 60, "max_items": 3}


@pytest.fixture(
    params=[
        "in-process",
        "database-sqlite",
        pytest.param("database-postgres", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[WorkingStore]:
    if request.param == "in-process":
        yield InProcessStore()
        return
    if request.param.startswith("database"):
        settings = Settings(data_dir=tmp_path / "var")
        if request.param == "database-sqlite":
            shutil.copytree(request.getfixturevalue("migrated_sqlite"), settings.data_dir)
        else:
            urls = request.getfixturevalue("postgres_urls")
            await empty_postgres_tables(urls)
            settings = replace(settings, database_urls=urls)
        database = open_module_database("memory", settings)
        yield DatabaseStore(database)
        await database.dispose()
        return
    url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
    redis_store = RedisStore(url, prefix)
    yield redis_store
    await redis_store.close()


async def test_items_come_back_in_order_and_the_oldest_go_past_the_cap(
    store: WorkingStore, clock: Clock
) -> None:
    await store.create("s1", [b"a"], now=clock(), **TTL)
    for item in (b"b", b"c", b"d"):
        await store.append("s1", [item], now=clock(), **TTL)
    found = await store.read("s1", ttl_s=60, now=clock())
    assert found is not None and found.items == [b"b", b"c", b"d"]


async def test_several_items_append_in_order_and_still_respect_the_cap(
    store: WorkingStore, clock: Clock
) -> None:
    await store.create("s1", [b"a"], now=clock(), **TTL)
    appended = await store.append("s1", [b"b", b"c", b"d", b"e"], now=clock(), **TTL)
    assert appended is not None and appended.items == [b"c", b"d", b"e"]


async def test_create_keeps_an_existing_one(store: WorkingStore, clock: Clock) -> None:
    await store.create("s1", [b"a"], now=clock(), **TTL)
    again = await store.create("s1", [b"other"], now=clock(), **TTL)
    assert again.items == [b"a"]


async def test_ttl_expires_unused_and_is_renewed_by_use(store: WorkingStore, clock: Clock) -> None:
    await store.create("used", [b"a"], now=clock(), **TTL)
    await store.create("idle", [b"a"], now=clock(), **TTL)
    for _ in range(3):  # 3 x 40 s: past the 60 s TTL in all, but never 60 s without use
        clock.advance(40)
        assert await store.read("used", ttl_s=60, now=clock()) is not None
    assert await store.read("idle", ttl_s=60, now=clock()) is None
    assert await store.append("idle", [b"b"], now=clock(), **TTL) is None
    assert await store.live_sessions(now=clock()) == 1
    clock.advance(61)
    assert await store.read("used", ttl_s=60, now=clock()) is None
    assert await store.live_sessions(now=clock()) == 0


async def test_read_reports_the_renewed_expiry(store: WorkingStore, clock: Clock) -> None:
    await store.create("s1", [], now=clock(), **TTL)
    clock.advance(30)
    found = await store.read("s1", ttl_s=60, now=clock())
    assert found is not None and found.items == []
    assert abs((found.expires_at - clock()).total_seconds() - 60) < 0.01


async def test_delete_removes_only_the_named_sessions(store: WorkingStore, clock: Clock) -> None:
    for name in ("s1", "s2", "s3"):
        await store.create(name, [b"x"], now=clock(), **TTL)
    await store.delete(["s1", "s2", "never-made"])
    assert [await store.read(n, ttl_s=60, now=clock()) is None for n in ("s1", "s2", "s3")] == [
        True,
        True,
        False,
    ]


@pytest.mark.redis
async def test_redis_store_touches_only_keys_under_its_prefix(
    redis_url: str, redis_prefix: str, clock: Clock
) -> None:
    client = redis_sync.Redis.from_url(redis_url)
    sentinel = f"{redis_prefix}-outside"
    client.set(sentinel, "untouched")
    before = set(client.scan_iter("*"))
    store = RedisStore(redis_url, redis_prefix)
    try:
        await store.create("s1", [b"a"], now=clock(), **TTL)
        await store.append("s1", [b"b"], now=clock(), **TTL)
        await store.read("s1", ttl_s=60, now=clock())
        await store.live_sessions(now=clock())
    finally:
        await store.close()
    new_keys = {k.decode() for k in set(client.scan_iter("*")) - before}
    assert new_keys and all(k.startswith(f"{redis_prefix}:memory:") for k in new_keys)
    assert client.get(sentinel) == b"untouched"
    client.delete(sentinel)


async def test_redis_down_is_unavailable_with_the_reason(clock: Clock) -> None:
    store = RedisStore("redis://:secret@127.0.0.1:1/0", "bulkhead")  # nothing listens there
    try:
        with pytest.raises(WorkingMemoryUnavailable) as down:
            await store.read("s1", ttl_s=60, now=clock())
        assert "Redis at 127.0.0.1:1/0" in down.value.message
        assert "secret" not in down.value.message
        with pytest.raises(WorkingMemoryUnavailable):
            await store.ping()
    finally:
        await store.close()
