"""Flash-sale stock: campaign quotas held apart, claimed on a hot path that answers "sold out" from Valkey.

Design (docs/adr/0007-flash-sale-stock.md):

- Creating an allocation moves the quota from a stock line's available units into
  its reserved units (a ``campaign_hold`` ledger row) and records the allocation
  with a durable ``claimed`` counter.
- A claim runs one Lua script in Valkey that checks the window, the remaining
  counter and the buyer's counter, and decrements both atomically. Sold out, not
  started, ended and over the buyer's limit are answered right there: no
  PostgreSQL round trip.
- When the script says yes, the claim is written to PostgreSQL before the answer:
  the claim row (unique per claim key), the buyer's total (a conditional upsert
  that never passes the limit) and ``claimed = claimed + q WHERE claimed + q <=
  quota``. PostgreSQL is the arbiter: whatever Valkey believes, the database never
  records more than the quota, so nothing is ever oversold.
- If the write fails, the Valkey decrement is undone. If the process dies between
  the decrement and the write, the decrement leaks (the sale would undersell, never
  oversell); reconciliation repairs it: at start (before serving) every live
  allocation's counters are recomputed from the durable claims, and periodically
  a counter that disagrees with the database twice in a row, with no claim landing
  in between, is rewritten. A Valkey that lost its data is reloaded on the first
  claim that finds the counters missing.
- If Valkey cannot be reached, claims go straight to the database path, which is
  correct on its own, only slower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound
from toko.platform.ids import new_id, require_id
from toko.services.inventory import domain
from toko.services.inventory.domain import InvalidInput, MovementKind
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.handlers import (
    SOURCE,
    authorize_shop,
    publish_stock_events,
    rules,
)
from toko.services.inventory.mapping import allocation_to_proto
from toko.services.inventory.repository import InventoryRepository, Movement, NotEnoughAvailable

log = logging.getLogger(__name__)

_VALKEY_ERRORS = (RedisError, OSError)

# Outcomes of the claim script.
_CLAIMED: Final = 1
_SOLD_OUT: Final = 0
_NOT_STARTED: Final = -1
_ENDED: Final = -2
_LIMIT_REACHED: Final = -3
_UNKNOWN: Final = -8
_NOT_LOADED: Final = -9

# KEYS: state hash, buyers hash. ARGV: buyer, quantity, now (ms).
# Returns {outcome, allocation id, per-buyer limit, buyer's total}.
_CLAIM = """
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
_UNDO = """
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


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class CreateAllocation:
    """Set a campaign quota of a SKU apart from its regular stock."""

    campaign_id: str
    sku_id: str
    warehouse_id: str
    quantity: int
    per_buyer_limit: int
    starts: datetime | None
    ends: datetime | None


async def allocate_quota(
    uow: UnitOfWork, command: CreateAllocation, principal: Principal, *, now: datetime
) -> Any:
    """Set a campaign quota apart inside ``uow`` (which the caller commits); returns the allocation row.

    The one implementation of "hold a campaign quota apart", shared by ``CreateFlashSaleAllocation`` and
    the consumer of the product service's campaigns. Without a warehouse, the shop's warehouse with the
    most available units gives the quota. Everything is checked before anything is staged, so a refusal
    raised from here leaves nothing behind once the caller rolls back (to a savepoint, or altogether).
    """
    campaign_id = require_id(command.campaign_id, "campaign_id")
    sku_id = require_id(command.sku_id, "sku_id")
    warehouse_id = require_id(command.warehouse_id, "warehouse_id") if command.warehouse_id else None
    if command.starts is None or command.ends is None:
        raise InvalidArgument.field(
            "start_time", "set start_time and end_time", ErrorCode.INVALID_TIME_WINDOW
        )
    with rules():
        quota = domain.positive_quantity(command.quantity, "quantity")
        limit = domain.per_buyer_limit(command.per_buyer_limit, quota)
        starts, ends = domain.flash_sale_window(command.starts, command.ends)
        if ends <= now:
            raise InvalidInput(ErrorCode.INVALID_TIME_WINDOW, "is already over", "end_time")
    repository = InventoryRepository(uow.session)
    facts = await repository.sku_facts([sku_id])
    if sku_id not in facts:
        raise NotFound(ErrorCode.SKU_NOT_STOCKED, f"no stock is kept of SKU {sku_id}")
    shop_id, archived = facts[sku_id]
    authorize_shop(principal, shop_id)
    if archived:
        raise FailedPrecondition(ErrorCode.SKU_ARCHIVED, f"SKU {sku_id} is off sale for good")
    if await repository.allocation(campaign_id, sku_id) is not None:
        raise FailedPrecondition(ErrorCode.CAMPAIGN_OVERLAP, "this campaign already has a quota of the SKU")
    lines = await repository.stock_of_sku(sku_id)
    if warehouse_id is not None:
        lines = [line for line in lines if line.warehouse_id == warehouse_id]
    if not lines:
        raise FailedPrecondition(
            ErrorCode.CAMPAIGN_QUOTA_EXCEEDS_STOCK, "no stock of the SKU to set the quota apart from"
        )
    line = max(lines, key=lambda candidate: (candidate.available, candidate.warehouse_id))
    try:
        moved, skus_moved = await repository.move(
            [Movement(line.id, MovementKind.CAMPAIGN_HOLD, 0, quota, reference=campaign_id)],
            actor=principal.subject,
        )
    except NotEnoughAvailable as exc:
        raise FailedPrecondition(
            ErrorCode.CAMPAIGN_QUOTA_EXCEEDS_STOCK,
            f"the quota of {quota} is more than warehouse {line.warehouse_id} has available",
        ) from exc
    # Checked after ``move`` took the SKU's row lock: concurrent creations for one SKU queue up here.
    clash = await repository.overlapping_allocation(sku_id=sku_id, starts=starts, ends=ends)
    if clash is not None:
        raise FailedPrecondition(
            ErrorCode.CAMPAIGN_OVERLAP,
            f"campaign {clash.campaign_id} already has a quota of this SKU in an overlapping window",
            metadata={"campaign_id": str(clash.campaign_id)},
        )
    row = await repository.add_allocation(
        {
            "id": new_id(),
            "campaign_id": campaign_id,
            "sku_id": sku_id,
            "warehouse_id": line.warehouse_id,
            "stock_id": line.id,
            "shop_id": shop_id,
            "quota": quota,
            "claimed": 0,
            "per_buyer_limit": limit,
            "starts_at": starts,
            "ends_at": ends,
        }
    )
    # Staged last: nothing raised above may leave events behind.
    publish_stock_events(uow, moved, skus_moved)
    return row


@dataclass
class FlashSales:
    """Flash-sale allocations in PostgreSQL and their hot counters in Valkey.

    ``after_decrement`` runs between the Valkey decrement and the durable write: a
    fault-injection seam for tests that kill a claim exactly there (None in production).
    """

    database: Database
    valkey: Redis
    clock: Clock = field(default=utcnow)
    after_decrement: Hook | None = None
    # Per allocation, the (claimed, remaining) pair seen disagreeing at the last reconciliation.
    _suspects: dict[str, tuple[int, int]] = field(default_factory=dict, init=False)
    _valkey_down_logged: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self._claim = self.valkey.register_script(_CLAIM)
        self._undo = self.valkey.register_script(_UNDO)
        self._load = self.valkey.register_script(_LOAD)

    # --- allocations ----------------------------------------------------------------------------------------

    async def create_allocation(
        self, *, command: CreateAllocation, principal: Principal
    ) -> pb.FlashSaleAllocation:
        """Move the quota out of a warehouse's available units into the campaign's bucket."""
        async with self.database.unit_of_work(SOURCE) as uow:
            row = await allocate_quota(uow, command, principal, now=self.clock())
            await uow.commit()
        with contextlib.suppress(*_VALKEY_ERRORS):
            # Best effort: the first claim loads the counters anyway.
            await self._load_counters(row, {}, force=True)
        return allocation_to_proto(row)

    async def get_allocation(self, *, campaign_id: str, sku_id: str) -> pb.FlashSaleAllocation:
        """A campaign's quota of a SKU with its durable claimed count."""
        require_id(campaign_id, "campaign_id")
        require_id(sku_id, "sku_id")
        async with self.database.sessions() as session:
            row = await InventoryRepository(session).allocation(campaign_id, sku_id)
        if row is None:
            raise _not_found(campaign_id, sku_id)
        return allocation_to_proto(row)

    # --- the hot path ---------------------------------------------------------------------------------------

    async def claim(
        self, *, campaign_id: str, sku_id: str, quantity: int, principal: Principal, idempotency_key: str = ""
    ) -> pb.ClaimFlashSaleResponse:
        """Claim units for the caller: refused from Valkey alone, recorded durably when granted."""
        require_id(campaign_id, "campaign_id")
        require_id(sku_id, "sku_id")
        with rules():
            domain.positive_quantity(quantity, "quantity")
        buyer = principal.subject
        keys = _keys(campaign_id, sku_id)
        granted = await self._decrement(keys, campaign_id, sku_id, buyer, quantity)
        if granted is None:
            # Valkey is unreachable: the database path alone is correct, only slower.
            allocation = await self._allocation_or_raise(campaign_id, sku_id)
            allocation_id, limit = str(allocation.id), int(allocation.per_buyer_limit)
        else:
            allocation_id, limit = granted
        if self.after_decrement is not None:
            await self.after_decrement()
        claim_key = f"{buyer}:{idempotency_key}" if idempotency_key else new_id()
        try:
            response, repeated = await self._record(allocation_id, buyer, quantity, limit, claim_key)
        except DomainError:
            # The database refused what Valkey granted: Valkey was behind; make it agree again.
            if granted is not None:
                await self._quietly(self._reload(campaign_id, sku_id))
            raise
        except Exception:
            if granted is not None:
                await self._quietly(self._undo(keys=keys, args=[buyer, quantity]))
            raise
        if repeated and granted is not None:
            # A retry of a recorded claim: it must not take the units twice.
            await self._quietly(self._undo(keys=keys, args=[buyer, quantity]))
        return response

    async def _decrement(
        self, keys: list[str], campaign_id: str, sku_id: str, buyer: str, quantity: int
    ) -> tuple[str, int] | None:
        """Run the claim script; (allocation id, per-buyer limit) when granted, None when Valkey is down."""
        try:
            outcome = await self._claim(keys=keys, args=[buyer, quantity, _ms(self.clock())])
            if int(outcome[0]) == _NOT_LOADED:
                await self._reload(campaign_id, sku_id, force=False)
                outcome = await self._claim(keys=keys, args=[buyer, quantity, _ms(self.clock())])
        except _VALKEY_ERRORS as exc:
            if not self._valkey_down_logged:
                log.warning(
                    "valkey unavailable; flash-sale claims go to the database", extra={"error": repr(exc)}
                )
                self._valkey_down_logged = True
            return None
        self._valkey_down_logged = False
        code = int(outcome[0])
        if code == _CLAIMED:
            return _text(outcome[1]), int(outcome[2])
        if code == _SOLD_OUT:
            raise FailedPrecondition(ErrorCode.SOLD_OUT, "this flash sale is sold out")
        if code == _NOT_STARTED:
            raise FailedPrecondition(ErrorCode.FLASH_SALE_NOT_STARTED, "this flash sale has not started yet")
        if code == _ENDED:
            raise FailedPrecondition(ErrorCode.FLASH_SALE_ENDED, "this flash sale is over")
        if code == _LIMIT_REACHED:
            raise FailedPrecondition(
                ErrorCode.PURCHASE_LIMIT_REACHED,
                f"at most {int(outcome[2])} units per buyer; you have {int(outcome[3])}",
            )
        raise _not_found(campaign_id, sku_id)

    async def _record(
        self, allocation_id: str, buyer: str, quantity: int, limit: int, claim_key: str
    ) -> tuple[pb.ClaimFlashSaleResponse, bool]:
        """Write the claim durably; (answer, True) when the key was already recorded (a retry)."""
        async with self.database.unit_of_work(SOURCE) as uow:
            repository = InventoryRepository(uow.session)
            claim_id = new_id()
            if not await repository.insert_claim(
                claim_id=claim_id,
                allocation_id=allocation_id,
                buyer_id=buyer,
                quantity=quantity,
                claim_key=claim_key,
            ):
                earlier = await repository.claim_by_key(allocation_id, claim_key)
                assert earlier is not None  # the insert just met it
                totals = await repository.buyer_totals(allocation_id)
                return (
                    pb.ClaimFlashSaleResponse(
                        claim_id=str(earlier.id), quantity=earlier.quantity, buyer_total=totals.get(buyer, 0)
                    ),
                    True,
                )
            total = await repository.add_to_buyer_total(
                allocation_id=allocation_id, buyer_id=buyer, quantity=quantity, limit=limit
            )
            if total is None:
                raise FailedPrecondition(ErrorCode.PURCHASE_LIMIT_REACHED, f"at most {limit} units per buyer")
            # Last, so the allocation's row lock (every claim's meeting point) is held as briefly as possible.
            if await repository.add_claimed(allocation_id, quantity, self.clock()) is None:
                raise FailedPrecondition(ErrorCode.SOLD_OUT, "this flash sale is sold out")
            await uow.commit()
        return pb.ClaimFlashSaleResponse(claim_id=claim_id, quantity=quantity, buyer_total=total), False

    # --- reconciliation -------------------------------------------------------------------------------------

    async def reconcile(self, *, force: bool = False) -> int:
        """Bring the Valkey counters of live allocations in line with the durable claims; returns how many.

        ``force`` rewrites every one (at start, before serving). Otherwise a counter is
        rewritten when missing, or when it disagrees with the database twice in a row
        with the same claimed count (a leaked decrement, not a claim in flight).
        """
        async with self.database.sessions() as session:
            repository = InventoryRepository(session)
            rows = await repository.live_allocations(self.clock())
            rewritten = 0
            for row in rows:
                allocation_id = str(row.id)
                keys = _keys(str(row.campaign_id), str(row.sku_id))
                truth = row.quota - row.claimed
                if not force:
                    raw = await self.valkey.hget(keys[0], "remaining")
                    if raw is not None:
                        remaining = int(raw)
                        if remaining == truth:
                            self._suspects.pop(allocation_id, None)
                            continue
                        seen = (row.claimed, remaining)
                        if self._suspects.get(allocation_id) != seen:
                            self._suspects[allocation_id] = seen
                            continue
                self._suspects.pop(allocation_id, None)
                await self._load_counters(row, await repository.buyer_totals(allocation_id), force=True)
                rewritten += 1
        return rewritten

    async def run(self, stop: asyncio.Event, interval: float = 5.0) -> None:
        """Reconcile every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
            if stop.is_set():
                return
            try:
                await self.reconcile()
            except Exception:
                log.warning("flash-sale reconciliation failed; retrying", exc_info=True)

    async def _reload(self, campaign_id: str, sku_id: str, *, force: bool = True) -> None:
        """Load one allocation's counters from the database (or mark it unknown for a few seconds)."""
        async with self.database.sessions() as session:
            repository = InventoryRepository(session)
            row = await repository.allocation(campaign_id, sku_id)
            if row is None:
                state = _keys(campaign_id, sku_id)[0]
                async with self.valkey.pipeline(transaction=True) as pipe:
                    pipe.hset(state, "missing", "1")
                    pipe.pexpire(state, _MISSING_TTL_MS)
                    await pipe.execute()
                return
            await self._load_counters(row, await repository.buyer_totals(str(row.id)), force=force)

    async def _load_counters(self, row: Any, buyers: dict[str, int], *, force: bool) -> None:
        pairs: list[str | int] = []
        for buyer, total in buyers.items():
            pairs += [buyer, total]
        await self._load(
            keys=_keys(str(row.campaign_id), str(row.sku_id)),
            args=[
                "1" if force else "0",
                str(row.id),
                row.quota - row.claimed,
                row.per_buyer_limit,
                _ms(row.starts_at),
                _ms(row.ends_at),
                _ms(row.ends_at + _KEEP_AFTER_END),
                *pairs,
            ],
        )

    async def _allocation_or_raise(self, campaign_id: str, sku_id: str) -> Any:
        async with self.database.sessions() as session:
            row = await InventoryRepository(session).allocation(campaign_id, sku_id)
        if row is None:
            raise _not_found(campaign_id, sku_id)
        now = self.clock()
        if now < row.starts_at:
            raise FailedPrecondition(ErrorCode.FLASH_SALE_NOT_STARTED, "this flash sale has not started yet")
        if now >= row.ends_at:
            raise FailedPrecondition(ErrorCode.FLASH_SALE_ENDED, "this flash sale is over")
        return row

    async def _quietly(self, call: Awaitable[object]) -> None:
        try:
            await call
        except _VALKEY_ERRORS:
            # Reconciliation repairs what could not be repaired now.
            log.warning("cannot correct flash-sale counters now", exc_info=True)


def _keys(campaign_id: str, sku_id: str) -> list[str]:
    # The hash tag keeps both keys of one allocation in one slot of a Valkey cluster.
    base = f"toko:inventory:flash:{{{campaign_id}:{sku_id}}}"
    return [base, f"{base}:buyers"]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _not_found(campaign_id: str, sku_id: str) -> NotFound:
    return NotFound(ErrorCode.FLASH_SALE_NOT_FOUND, f"campaign {campaign_id} has no quota of SKU {sku_id}")
