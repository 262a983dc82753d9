"""Read-through caching in Valkey, safe across replicas and harmless when Valkey is down.

``ReadThroughCache.get_or_load(key, loader)`` returns the cached bytes or calls
``loader`` (which reads PostgreSQL) and caches its answer, a missing row
(``None``) included for a short time, so a flood of requests for an unknown id
stays off the database. Keys live under ``toko:<service>:``.

Correctness rules:

- Writers do not update the cache; they invalidate it (``invalidate``), best
  from an event consumer so that a failed invalidation is retried with the event.
- A miss takes a short *lease* in Valkey before loading and stores its result
  only if the lease is still there: an invalidation that lands while the value
  is being loaded deletes the lease, so the stale value is never stored.
- Concurrent misses for one key in one process share a single load; across
  replicas, a reader that finds another's lease loads without storing.
- With ``local_size`` > 0, a small in-process LRU (``local_ttl`` seconds) sits in
  front. It is only used while ``run()`` is subscribed to the Valkey channel
  ``toko:<service>:invalidate``, on which every ``invalidate`` is broadcast.
- If Valkey cannot be reached, reads go straight to the loader (one warning per
  outage, then Valkey is retried after ``retry_after`` seconds).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Final

import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from toko.platform.workers import unless_stopped

__all__ = ["CacheUnavailable", "Loader", "ReadThroughCache", "create_valkey"]

log = logging.getLogger(__name__)

Loader = Callable[[], Awaitable[bytes | None]]

# One tag byte in front of every stored value tells a value, a cached miss and a lease apart.
_VALUE: Final = b"v"
_MISSING: Final = b"n"
_LEASE: Final = b"l"

# Store the loaded value only if our lease is still there (no invalidation since we took it).
_STORE_IF_LEASED = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return false
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_VALKEY_ERRORS = (RedisError, OSError)


class CacheUnavailable(Exception):
    """Valkey could not be reached to invalidate keys; retry (a consumer holds its event until it can)."""


def create_valkey(url: str, *, max_connections: int = 64, timeout: float = 0.5) -> Redis:
    """A pooled Valkey client returning bytes, with timeouts short enough to fall back quickly."""
    return Redis.from_url(
        url,
        decode_responses=False,
        max_connections=max_connections,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
        # One immediate retry heals a pooled connection that Valkey closed; more would only delay fallback.
        retry=Retry(NoBackoff(), 1),
    )


class _Missing:
    """Marker for "not in the local front"; None is a legitimately cached value."""


_NOT_LOCAL: Final = _Missing()


class ReadThroughCache:
    """A Valkey read-through cache for one service, with negative caching and single-flight loads."""

    def __init__(
        self,
        valkey: Redis,
        *,
        service: str,
        ttl: float = 300.0,
        negative_ttl: float = 5.0,
        lease: float = 5.0,
        local_size: int = 0,
        local_ttl: float = 1.0,
        retry_after: float = 1.0,
    ) -> None:
        self._valkey = valkey
        self.prefix = f"toko:{service}:"
        self.channel = f"toko:{service}:invalidate"
        self.ttl = ttl
        self.negative_ttl = negative_ttl
        self.lease = lease
        self.local_size = local_size
        self.local_ttl = local_ttl
        self.retry_after = retry_after
        self._store_if_leased = valkey.register_script(_STORE_IF_LEASED)
        self._release_lease = valkey.register_script(_RELEASE_LEASE)
        self._flights: dict[str, asyncio.Task[bytes | None]] = {}
        self._local: OrderedDict[str, tuple[float, bytes | None]] = OrderedDict()
        self._subscribed = False
        # Bumped by every invalidation: a load that started before one must not fill the local front.
        self._generation = 0
        self._down_until = 0.0

    @property
    def local_active(self) -> bool:
        """True while the local front is in use (``run()`` is subscribed to invalidations)."""
        return self._subscribed

    async def get_or_load(self, key: str, loader: Loader, ttl: float | None = None) -> bytes | None:
        """The value of ``key`` (relative to the service prefix), loading and caching it on a miss.

        ``loader`` must depend on ``key`` only: concurrent callers share one load.
        """
        local = self._local_get(key)
        if not isinstance(local, _Missing):
            return local
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.create_task(self._fetch(key, loader, self.ttl if ttl is None else ttl))
            self._flights[key] = flight
            flight.add_done_callback(lambda done: self._landed(key, done))
        # Shielded: one caller giving up must not cancel the load the others wait for.
        return await asyncio.shield(flight)

    async def invalidate(self, *keys: str) -> None:
        """Drop ``keys`` here, in Valkey and in every replica's local front; raises CacheUnavailable."""
        if not keys:
            return
        self._generation += 1
        for key in keys:
            self._local.pop(key, None)
        try:
            async with self._valkey.pipeline(transaction=False) as pipe:
                pipe.delete(*(self.prefix + key for key in keys))
                if self.local_size:
                    pipe.publish(self.channel, orjson.dumps(keys))
                await pipe.execute()
        except _VALKEY_ERRORS as exc:
            raise CacheUnavailable(f"cannot invalidate {len(keys)} cache key(s)") from exc

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the local front in step with other replicas' invalidations until ``stop`` is set."""
        if not self.local_size:
            return
        while not stop.is_set():
            try:
                await self._follow_invalidations(stop)
            except _VALKEY_ERRORS:
                log.warning("cache invalidation channel lost; local cache off", exc_info=True)
            finally:
                self._subscribed = False
                self._local.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.retry_after)

    async def _follow_invalidations(self, stop: asyncio.Event) -> None:
        pubsub = self._valkey.pubsub()
        try:
            await pubsub.subscribe(self.channel)
            while not stop.is_set():
                # Waits up to 30 s for an invalidation (stop ends it at once): no wake-up a second while idle.
                received, message = await unless_stopped(stop, pubsub.get_message(timeout=30.0))
                if not received or message is None:
                    continue
                if message["type"] == "subscribe":
                    # Only from now on are invalidations guaranteed to reach us.
                    self._local.clear()
                    self._subscribed = True
                elif message["type"] == "message":
                    self._generation += 1
                    for key in orjson.loads(message["data"]):
                        self._local.pop(key, None)
        finally:
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _fetch(self, key: str, loader: Loader, ttl: float) -> bytes | None:
        generation = self._generation
        if time.monotonic() < self._down_until:
            return await loader()
        name = self.prefix + key
        try:
            raw = await self._valkey.get(name)
            assert raw is None or isinstance(raw, bytes)  # decode_responses=False
            if raw is not None and not raw.startswith(_LEASE):
                value = _decode(raw)
                self._local_put(key, value, generation)
                return value
            lease = _LEASE + secrets.token_bytes(12)
            # Someone else's lease means they are loading; we load too but leave storing to them.
            leased = raw is None and bool(await self._valkey.set(name, lease, nx=True, px=_ms(self.lease)))
        except _VALKEY_ERRORS as exc:
            self._valkey_failed(exc)
            return await loader()
        try:
            value = await loader()
        except BaseException:
            if leased:
                await self._quietly(self._release_lease(keys=[name], args=[lease]))
            raise
        if leased:
            expiry = ttl if value is not None else self.negative_ttl
            # Jitter, so keys cached together do not all expire in the same instant.
            stored = _encode(value)
            await self._quietly(
                self._store_if_leased(
                    keys=[name], args=[lease, stored, _ms(expiry * random.uniform(0.9, 1.0))]
                )
            )
        self._local_put(key, value, generation)
        return value

    async def _quietly(self, call: Awaitable[object]) -> None:
        try:
            await call
        except _VALKEY_ERRORS as exc:
            self._valkey_failed(exc)

    def _valkey_failed(self, exc: BaseException) -> None:
        if time.monotonic() >= self._down_until:
            log.warning("valkey unavailable; reading through to the database", extra={"error": repr(exc)})
        self._down_until = time.monotonic() + self.retry_after

    def _landed(self, key: str, flight: asyncio.Task[bytes | None]) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        # Mark the outcome retrieved even if every caller gave up; they would have re-raised it.
        if not flight.cancelled():
            flight.exception()

    def _local_get(self, key: str) -> bytes | _Missing | None:
        if not self._subscribed:
            return _NOT_LOCAL
        entry = self._local.get(key)
        if entry is None:
            return _NOT_LOCAL
        expires, value = entry
        if time.monotonic() >= expires:
            del self._local[key]
            return _NOT_LOCAL
        self._local.move_to_end(key)
        return value

    def _local_put(self, key: str, value: bytes | None, generation: int) -> None:
        if not self._subscribed or generation != self._generation:
            return
        self._local[key] = (time.monotonic() + self.local_ttl, value)
        self._local.move_to_end(key)
        while len(self._local) > self.local_size:
            self._local.popitem(last=False)


def _encode(value: bytes | None) -> bytes:
    return _MISSING if value is None else _VALUE + value


def _decode(raw: bytes) -> bytes | None:
    return None if raw.startswith(_MISSING) else raw[len(_VALUE) :]


def _ms(seconds: float) -> int:
    return max(int(seconds * 1000), 1)
