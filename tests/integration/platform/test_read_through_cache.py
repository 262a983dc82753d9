"""The read-through cache on a real Valkey, including Valkey being unreachable."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.asyncio import Redis

from toko.platform.cache import CacheUnavailable, ReadThroughCache, create_valkey

# The `eventually` fixture (conftest): waits for an async condition, or fails the test.
Eventually = Callable[..., Awaitable[None]]


class Source:
    """Stands in for the database behind the cache: counts loads, and its value can change."""

    def __init__(self, value: bytes | None, delay: float = 0.0) -> None:
        self.value = value
        self.delay = delay
        self.loads = 0

    async def load(self) -> bytes | None:
        self.loads += 1
        value = self.value  # read at the start, as a query's snapshot would be
        await asyncio.sleep(self.delay)
        return value


@pytest.fixture
def service() -> str:
    return f"svc{uuid.uuid4().hex[:8]}"


@pytest.fixture
def cache(valkey: Redis, service: str) -> ReadThroughCache:
    return ReadThroughCache(valkey, service=service, ttl=60, negative_ttl=0.3)


async def test_a_miss_loads_once_and_then_serves_from_valkey(
    cache: ReadThroughCache, valkey: Redis, service: str
) -> None:
    source = Source(b"product 1")

    first = await cache.get_or_load("product:1", source.load)
    second = await cache.get_or_load("product:1", source.load)

    assert first == second == b"product 1"
    assert source.loads == 1
    assert await valkey.exists(f"toko:{service}:product:1")
    assert 0 < await valkey.pttl(f"toko:{service}:product:1") <= 60_000


async def test_a_missing_row_is_cached_briefly(cache: ReadThroughCache) -> None:
    source = Source(None)

    assert await cache.get_or_load("product:404", source.load) is None
    assert await cache.get_or_load("product:404", source.load) is None
    assert source.loads == 1

    await asyncio.sleep(0.35)
    source.value = b"created since"
    assert await cache.get_or_load("product:404", source.load) == b"created since"
    assert source.loads == 2


async def test_invalidation_makes_the_next_read_load_the_new_value(cache: ReadThroughCache) -> None:
    source = Source(b"old price")
    await cache.get_or_load("product:2", source.load)

    source.value = b"new price"
    await cache.invalidate("product:2", "product:never-cached")

    assert await cache.get_or_load("product:2", source.load) == b"new price"


async def test_an_invalidation_during_a_load_keeps_the_stale_value_out(cache: ReadThroughCache) -> None:
    source = Source(b"stale", delay=0.2)
    reading = asyncio.create_task(cache.get_or_load("product:3", source.load))
    await asyncio.sleep(0.05)
    # A writer commits and invalidates while the reader still holds the old row.
    source.value = b"fresh"
    source.delay = 0.0
    await cache.invalidate("product:3")

    assert await reading == b"stale"
    assert await cache.get_or_load("product:3", source.load) == b"fresh"


async def test_concurrent_misses_share_one_load(cache: ReadThroughCache) -> None:
    source = Source(b"hot", delay=0.1)

    values = await asyncio.gather(*(cache.get_or_load("product:hot", source.load) for _ in range(50)))

    assert set(values) == {b"hot"}
    assert source.loads == 1


async def test_a_failing_load_reaches_every_waiter_and_is_not_cached(cache: ReadThroughCache) -> None:
    async def broken() -> bytes | None:
        await asyncio.sleep(0.05)
        raise RuntimeError("database down")

    results = await asyncio.gather(
        *(cache.get_or_load("product:4", broken) for _ in range(3)), return_exceptions=True
    )

    assert all(isinstance(result, RuntimeError) for result in results)
    assert await cache.get_or_load("product:4", Source(b"back").load) == b"back"


@pytest.fixture
async def unreachable_valkey() -> AsyncIterator[Redis]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = create_valkey(f"redis://127.0.0.1:{port}/0", timeout=0.2)
    yield client
    await client.aclose()


async def test_reads_fall_back_to_the_loader_when_valkey_is_down(
    unreachable_valkey: Redis, service: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ReadThroughCache(unreachable_valkey, service=service)
    source = Source(b"from postgres")

    assert await cache.get_or_load("product:5", source.load) == b"from postgres"
    assert await cache.get_or_load("product:5", source.load) == b"from postgres"
    assert source.loads == 2
    assert sum("valkey unavailable" in record.message for record in caplog.records) == 1


async def test_invalidating_while_valkey_is_down_raises_so_the_caller_retries(
    unreachable_valkey: Redis, service: str
) -> None:
    cache = ReadThroughCache(unreachable_valkey, service=service)

    with pytest.raises(CacheUnavailable):
        await cache.invalidate("product:6")


async def test_the_local_front_is_invalidated_on_every_replica(
    valkey: Redis, service: str, eventually: Eventually
) -> None:
    # Two replicas, with a local TTL far longer than the test: only the broadcast can evict.
    replicas = [ReadThroughCache(valkey, service=service, local_size=100, local_ttl=60) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(replica.run(stop)) for replica in replicas]

    async def subscribed() -> bool:
        return all(replica.local_active for replica in replicas)

    await eventually(subscribed)
    source = Source(b"v1")
    for replica in replicas:
        assert await replica.get_or_load("product:7", source.load) == b"v1"
    source.value = b"v2"
    assert await replicas[0].get_or_load("product:7", source.load) == b"v1"  # from its local front
    loads = source.loads

    await replicas[1].invalidate("product:7")

    async def replica_zero_sees_v2() -> bool:
        return await replicas[0].get_or_load("product:7", source.load) == b"v2"

    await eventually(replica_zero_sees_v2)
    assert source.loads == loads + 1
    stop.set()
    await asyncio.gather(*tasks)
    assert not replicas[0].local_active
