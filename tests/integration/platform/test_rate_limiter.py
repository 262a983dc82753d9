"""The GCRA rate limiter on the session's real Valkey: exact under concurrency, several buckets at once."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio import Redis

from toko.platform.ratelimit import Bucket, RateLimiter, RateLimitPolicy


def _key() -> str:
    return f"toko:test:ratelimit:{uuid.uuid4().hex}"


async def test_concurrent_requests_get_exactly_the_limit(valkey: Redis) -> None:
    limiter = RateLimiter(valkey)
    bucket = Bucket(_key(), RateLimitPolicy("burst", 5, 60))

    decisions = await asyncio.gather(*(limiter.check((bucket,)) for _ in range(40)))

    allowed = [d for d in decisions if d is not None and d.allowed]
    assert len(allowed) == 5
    assert sorted(d.remaining for d in allowed) == [0, 1, 2, 3, 4]
    assert all(d is not None and d.retry_after_seconds >= 1 for d in decisions if d not in allowed)


async def test_a_request_passes_only_if_every_bucket_has_room_and_a_refusal_charges_nothing(
    valkey: Redis,
) -> None:
    limiter = RateLimiter(valkey)
    wide = Bucket(_key(), RateLimitPolicy("wide", 100, 60))
    narrow = Bucket(_key(), RateLimitPolicy("narrow", 1, 60))

    first = await limiter.check((wide, narrow))
    second = await limiter.check((wide, narrow))
    alone = await limiter.check((wide,))

    assert first is not None
    assert first.allowed
    assert first.policy.name == "narrow"
    assert first.remaining == 0
    assert second is not None
    assert not second.allowed
    assert second.policy.name == "narrow"
    assert second.headers()[-1] == (b"retry-after", str(second.retry_after_seconds).encode())
    assert alone is not None
    assert alone.remaining == 98


async def test_the_same_round_trip_reports_whether_a_key_exists(valkey: Redis) -> None:
    limiter = RateLimiter(valkey)
    bucket = Bucket(_key(), RateLimitPolicy("api", 10, 60))
    present = _key()
    await valkey.set(present, b"1", ex=60)

    found = await limiter.check((bucket,), exists=present)
    missing = await limiter.check((bucket,), exists=_key())

    assert found is not None
    assert found.key_exists
    assert missing is not None
    assert not missing.key_exists
