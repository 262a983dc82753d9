"""Rate limiting in Valkey: GCRA buckets checked and charged atomically, in one round trip.

A policy allows ``limit`` requests per ``window`` seconds, refilled smoothly (the
generic cell rate algorithm: one request every ``window / limit`` seconds, with a
burst of up to ``limit``). Each bucket is one Valkey key holding its "theoretical
arrival time" in microseconds of Valkey's clock, so replicas of the caller share
buckets and their clocks do not matter.

``RateLimiter.check`` runs one Lua script over every bucket that applies to a
request: the request passes only if every bucket has room, and only then is every
bucket charged. Checks arriving together share one script call (see ``RateLimiter``).
The same script can also look up one more key (a token denylist)
so the caller learns both answers in the same round trip.

If Valkey cannot be reached the limiter fails open: ``check`` returns None, logs
one warning per outage, counts the requests let through, and tries Valkey again
after ``retry_after`` seconds. Rate limiting protects capacity; it is never a
reason to answer 500.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

__all__ = ["Bucket", "Decision", "RateLimitPolicy", "RateLimiter"]

log = logging.getLogger(__name__)

# Checks a batch of requests, in order. KEYS: for each request its buckets, then (if it asks) one key
# whose existence is reported. ARGV: the number of requests; for each, its number of buckets, 1 if it
# asks about a key (else 0), then per bucket its emission interval and window, in microseconds.
# Returns, per request: allowed, index of the reported bucket (1-based), remaining, reset µs,
# retry-after µs, key exists.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
local k, a = 1, 2
for _ = 1, tonumber(ARGV[1]) do
  local n, asks = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  a = a + 2
  local tats = {}
  local denied, wait = 0, 0
  local lowest, lowest_left, lowest_reset = 1, -1, 0
  for i = 1, n do
    local interval, window = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
    a = a + 2
    local tat = tonumber(redis.call('GET', KEYS[k + i - 1]) or 0)
    if tat < now then tat = now end
    local new_tat = tat + interval
    local over = new_tat - now - window
    if over > 0 then
      if over > wait then denied, wait = i, over end
    else
      local left = math.floor((window - (new_tat - now)) / interval)
      if lowest_left < 0 or left < lowest_left then
        lowest, lowest_left, lowest_reset = i, left, new_tat - now
      end
    end
    tats[i] = new_tat
  end
  local exists = 0
  if asks == 1 then exists = redis.call('EXISTS', KEYS[k + n]) end
  if denied > 0 then
    for _, v in ipairs({0, denied, 0, wait, wait, exists}) do out[#out + 1] = v end
  else
    for i = 1, n do
      local ttl = math.ceil((tats[i] - now) / 1000)
      redis.call('SET', KEYS[k + i - 1], string.format('%.0f', tats[i]), 'PX', ttl)
    end
    for _, v in ipairs({1, lowest, lowest_left, lowest_reset, 0, exists}) do out[#out + 1] = v end
  end
  k = k + n + asks
end
return out
"""
_FIELDS = 6


@dataclass(frozen=True)
class RateLimitPolicy:
    """``limit`` requests per ``window`` seconds; ``name`` appears in the RateLimit headers."""

    name: str
    limit: int
    window: float

    @property
    def interval_us(self) -> int:
        """Microseconds between two requests at the sustained rate."""
        return max(1, round(self.window * 1_000_000 / self.limit))

    @property
    def window_us(self) -> int:
        """The window in microseconds."""
        return round(self.window * 1_000_000)


@dataclass(frozen=True)
class Bucket:
    """One policy applied to one key (an IP address, a client…)."""

    key: str
    policy: RateLimitPolicy


@dataclass(frozen=True)
class Decision:
    """The outcome of one check: about the bucket that denied it, or the one with the least room."""

    allowed: bool
    policy: RateLimitPolicy
    remaining: int
    reset_seconds: int
    retry_after_seconds: int
    key_exists: bool

    def headers(self) -> list[tuple[bytes, bytes]]:
        """The RateLimit-Policy and RateLimit fields (ratelimit-headers draft 08), and Retry-After."""
        policy = self.policy
        window = math.ceil(policy.window)
        headers = [
            (b"ratelimit-policy", f'"{policy.name}";q={policy.limit};w={window}'.encode()),
            (b"ratelimit", f'"{policy.name}";r={self.remaining};t={self.reset_seconds}'.encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after_seconds).encode()))
        return headers


@dataclass(frozen=True)
class _Check:
    buckets: Sequence[Bucket]
    exists: str | None
    answer: asyncio.Future[Decision | None]


class RateLimiter:
    """Checks and charges buckets in Valkey; fails open when Valkey is unreachable.

    Checks made in the same turn of the event loop travel together as one script call: each
    request still costs one round trip, but the client's per-command work (a large part of the
    cost in Python) is shared by the batch. Requests are checked in arrival order, atomically.
    """

    def __init__(self, valkey: Redis, *, retry_after: float = 5.0, max_batch: int = 128) -> None:
        self._valkey = valkey
        self._script = valkey.register_script(_GCRA)
        self._retry_after = retry_after
        self._max_batch = max_batch
        self._skip_until = 0.0
        self._pending: list[_Check] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.failed_open = 0

    async def aclose(self) -> None:
        """Finish the checks in flight and close the connections to Valkey."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._valkey.aclose()

    @property
    def failing_open(self) -> bool:
        """True while Valkey is considered unreachable."""
        return time.monotonic() < self._skip_until

    async def check(self, buckets: Sequence[Bucket], *, exists: str | None = None) -> Decision | None:
        """Charge a request to every bucket (one or more) if all have room; None if Valkey is unreachable."""
        if self._skip_until and time.monotonic() < self._skip_until:
            self.failed_open += 1
            return None
        loop = asyncio.get_running_loop()
        check = _Check(buckets, exists, loop.create_future())
        self._pending.append(check)
        if len(self._pending) == 1:
            loop.call_soon(self._flush)
        elif len(self._pending) >= self._max_batch:
            self._flush()
        return await check.answer

    def _flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, batch: list[_Check]) -> None:
        keys: list[str] = []
        args: list[int] = [len(batch)]
        for check in batch:
            keys += [bucket.key for bucket in check.buckets]
            args += (len(check.buckets), 0 if check.exists is None else 1)
            for bucket in check.buckets:
                args += (bucket.policy.interval_us, bucket.policy.window_us)
            if check.exists is not None:
                keys.append(check.exists)
        try:
            reply = await self._script(keys=keys, args=args)
        except (RedisError, OSError, TimeoutError) as error:
            self._fail_open(error, len(batch))
            for check in batch:
                if not check.answer.done():
                    check.answer.set_result(None)
            return
        if self._skip_until:
            self._skip_until = 0.0
            log.info("rate limiting is back: Valkey answers again")
        for n, check in enumerate(batch):
            if not check.answer.done():
                check.answer.set_result(_decision(check.buckets, reply[n * _FIELDS : (n + 1) * _FIELDS]))

    def _fail_open(self, error: BaseException, requests: int) -> None:
        self.failed_open += requests
        if not self.failing_open:
            log.warning(
                "rate limiting is failing open: Valkey is unreachable",
                extra={"error": str(error), "retry_after": self._retry_after},
            )
        self._skip_until = time.monotonic() + self._retry_after


def _decision(buckets: Sequence[Bucket], fields: Sequence[Any]) -> Decision:
    allowed, index, remaining, reset_us, retry_us, found = (int(value) for value in fields)
    return Decision(
        allowed=bool(allowed),
        policy=buckets[index - 1].policy,
        remaining=max(0, remaining),
        reset_seconds=math.ceil(reset_us / 1_000_000),
        retry_after_seconds=max(1, math.ceil(retry_us / 1_000_000)),
        key_exists=bool(found),
    )
