"""The hot counters of flash sales in Valkey: the units left of each allocation and each buyer's total.

Three Lua scripts change them, each atomically: ``take`` checks the window, the units left
and the buyer's limit and decrements both counters; ``give_back`` undoes a decrement whose
claim could not be recorded; ``load`` writes them from the durable claims. PostgreSQL stays
the arbiter (``handlers.flash_sale``): these counters only answer refusals fast.

``FlashSaleCounters`` is a dependency of the use cases (``Inventory.flash_sales``): it holds
the registered scripts and what reconciliation remembers from one pass to the next.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

VALKEY_ERRORS = (RedisError, OSError)

# KEYS: state hash, buyers hash. ARGV: buyer, quantity, now (ms).
# Returns {outcome, allocation id, per-buyer limit, buyer's total}.
_TAKE = """
local s = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts', 'ends', 'id', 'missing')
if s[6] then return {-8} end
if not s[1] then return {-9} end
local now = tonumber(ARGV[3])
if now < tonumber(s[3]) then return {-1} end
if now >= tonumber(s[4]) then return {-2} end
local qty = tonumber(ARGV[2])
if tonumber(s[1]) < qty then return {0} end
local bought = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if bought + qty > tonumber(s[2]) then return {-3, s[5], s[2], bought} end
redis.call('HINCRBY', KEYS[1], 'remaining', -qty)
local total = redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
return {1, s[5], s[2], total}
"""
# Undo a decrement whose claim could not be recorded. KEYS as above; ARGV: buyer, quantity.
_GIVE_BACK = """
if redis.call('HEXISTS', KEYS[1], 'remaining') == 1 then
  redis.call('HINCRBY', KEYS[1], 'remaining', ARGV[2])
end
if redis.call('HINCRBY', KEYS[2], ARGV[1], -tonumber(ARGV[2])) <= 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
"""
# Load the counters from the durable claims. ARGV: force ('1' overwrites), id, remaining, limit, starts,
# ends, expire at (ms), then buyer and total pairs.
_LOAD = """
if ARGV[1] == '0' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'remaining', ARGV[3], 'limit', ARGV[4],
  'starts', ARGV[5], 'ends', ARGV[6])
redis.call('PEXPIREAT', KEYS[1], ARGV[7])
for i = 8, #ARGV, 2 do redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
if #ARGV >= 8 then redis.call('PEXPIREAT', KEYS[2], ARGV[7]) end
return 1
"""
_MISSING_TTL_MS = 5_000
# Counters outlive their sale by a day, for late "ended" answers without a database read.
_KEEP_AFTER_END = timedelta(days=1)

Hook = Callable[[], Awaitable[None]]


class Outcome(IntEnum):
    """What the take script answered."""

    CLAIMED = 1
    SOLD_OUT = 0
    NOT_STARTED = -1
    ENDED = -2
    LIMIT_REACHED = -3
    # The database has no such allocation (remembered for a few seconds).
    UNKNOWN = -8
    # Valkey holds no counters of the allocation: load them, then ask again.
    NOT_LOADED = -9


@dataclass(frozen=True)
class Taken:
    """The take script's answer: its outcome and, when known, the allocation id, limit and buyer's total."""

    outcome: Outcome
    allocation_id: str = ""
    limit: int = 0
    total: int = 0


def counter_keys(campaign_id: str, sku_id: str) -> list[str]:
    """The state hash and the buyers hash of one allocation."""
    # The hash tag keeps both keys of one allocation in one slot of a Valkey cluster.
    base = f"toko:inventory:flash:{{{campaign_id}:{sku_id}}}"
    return [base, f"{base}:buyers"]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass
class FlashSaleCounters:
    """The flash-sale counters in Valkey, and what reconciliation remembers between passes.

    ``after_decrement`` runs between the Valkey decrement and the durable write: a
    fault-injection seam for tests that kill a claim exactly there (None in production).
    """

    valkey: Redis
    after_decrement: Hook | None = None
    # Per allocation, the (claimed, remaining) pair seen disagreeing at the last reconciliation.
    suspects: dict[str, tuple[int, int]] = field(default_factory=dict, init=False)
    # The last allocation the reconciliation pass under way has checked (None: the next batch starts over).
    reconciled_up_to: str | None = field(default=None, init=False)
    # Whether Valkey being out of reach was logged since it was last reached: an outage logs once.
    down_logged: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._take = self.valkey.register_script(_TAKE)
        self._give_back = self.valkey.register_script(_GIVE_BACK)
        self._load = self.valkey.register_script(_LOAD)

    async def take(self, campaign_id: str, sku_id: str, buyer: str, quantity: int, now: datetime) -> Taken:
        """Decrement the units left and add to the buyer's total, when the window, stock and limit allow."""
        answer = await self._take(keys=counter_keys(campaign_id, sku_id), args=[buyer, quantity, _ms(now)])
        outcome = Outcome(int(answer[0]))
        if len(answer) < 4:
            return Taken(outcome)
        return Taken(outcome, _text(answer[1]), int(answer[2]), int(answer[3]))

    async def give_back(self, campaign_id: str, sku_id: str, buyer: str, quantity: int) -> None:
        """Undo a decrement of ``take``."""
        await self._give_back(keys=counter_keys(campaign_id, sku_id), args=[buyer, quantity])

    async def load(self, allocation: Any, buyers: Mapping[str, int], *, force: bool) -> None:
        """Write an allocation's counters from its row and buyers' totals (if missing, or with ``force``)."""
        pairs: list[str | int] = []
        for buyer, total in buyers.items():
            pairs += [buyer, total]
        await self._load(
            keys=counter_keys(str(allocation.campaign_id), str(allocation.sku_id)),
            args=[
                "1" if force else "0",
                str(allocation.id),
                allocation.quota - allocation.claimed,
                allocation.per_buyer_limit,
                _ms(allocation.starts_at),
                _ms(allocation.ends_at),
                _ms(allocation.ends_at + _KEEP_AFTER_END),
                *pairs,
            ],
        )

    async def mark_unknown(self, campaign_id: str, sku_id: str) -> None:
        """Remember for a few seconds that the database has no such allocation."""
        state = counter_keys(campaign_id, sku_id)[0]
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.hset(state, "missing", "1")
            pipe.pexpire(state, _MISSING_TTL_MS)
            await pipe.execute()

    async def remaining(self, campaign_id: str, sku_id: str) -> int | None:
        """The units left as Valkey counts them; None when it holds no counters of the allocation."""
        raw = await self.valkey.hget(counter_keys(campaign_id, sku_id)[0], "remaining")
        return None if raw is None else int(raw)
