"""Flash-sale stock: campaign quotas held apart, claimed on a hot path that answers "sold out" from Valkey.

Design (docs/adr/0007-flash-sale-stock.md):

- Creating an allocation moves the quota from a stock line's available units into
  its reserved units (a ``campaign_hold`` ledger row) and records the allocation
  with a durable ``claimed`` counter.
- A claim runs one Lua script in Valkey (``FlashSaleCounters.take``) that checks the
  window, the remaining counter and the buyer's counter, and decrements both
  atomically. Sold out, not started, ended and over the buyer's limit are answered
  right there: no PostgreSQL round trip.
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

import contextlib
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import DomainError, FailedPrecondition, NotFound
from toko.platform.ids import new_id
from toko.platform.validation import ruled
from toko.services.inventory import domain
from toko.services.inventory.counters import VALKEY_ERRORS, Outcome
from toko.services.inventory.domain import ClaimStatus, MovementKind
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.handlers.common import (
    SOURCE,
    ClaimReturned,
    Inventory,
    authorize_shop,
    id_violations,
    move_stock,
    publish_stock_events,
    require_ids,
)
from toko.services.inventory.mapping import allocation_to_proto, claim_to_proto, timestamp
from toko.services.inventory.repository.flash_sales import FlashSaleRepository
from toko.services.inventory.repository.skus import SkuRepository
from toko.services.inventory.repository.stock import Movement, NotEnoughAvailable, StockRepository

log = logging.getLogger(__name__)
# A buyer holds a claim per campaign SKU at most up to its per-buyer limit: a hundred is more than any
# cart; the list stops there rather than growing with a buyer's history.
MAX_LISTED_CLAIMS = 100


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


# --- allocations --------------------------------------------------------------------------------------------


async def allocate_quota(
    uow: UnitOfWork, command: CreateAllocation, principal: Principal, *, now: datetime
) -> Any:
    """Set a campaign quota apart inside ``uow`` (which the caller commits); returns the allocation row.

    The one implementation of "hold a campaign quota apart", shared by ``CreateFlashSaleAllocation`` and
    the consumer of the product service's campaigns. Without a warehouse, the shop's warehouse with the
    most available units gives the quota. Everything is checked before anything is staged, so a refusal
    raised from here leaves nothing behind once the caller rolls back (to a savepoint, or altogether).
    """
    ids = [("campaign_id", command.campaign_id), ("sku_id", command.sku_id)]
    if command.warehouse_id:
        ids.append(("warehouse_id", command.warehouse_id))
    terms = ruled(
        partial(
            domain.flash_sale_terms,
            quantity=command.quantity,
            limit=command.per_buyer_limit,
            starts=command.starts,
            ends=command.ends,
            now=now,
        ),
        also=id_violations(*ids),
    )
    campaign_id, sku_id, warehouse_id = command.campaign_id, command.sku_id, command.warehouse_id or None
    quota = terms.quota
    allocations = FlashSaleRepository(uow.session)
    stock = StockRepository(uow.session)
    facts = await SkuRepository(uow.session).sku_facts([sku_id])
    if sku_id not in facts:
        raise NotFound(ErrorCode.SKU_NOT_STOCKED, f"no stock is kept of SKU {sku_id}")
    shop_id, archived = facts[sku_id]
    authorize_shop(principal, shop_id)
    if archived:
        raise FailedPrecondition(ErrorCode.SKU_ARCHIVED, f"SKU {sku_id} is off sale for good")
    if await allocations.allocation(campaign_id, sku_id) is not None:
        raise FailedPrecondition(ErrorCode.CAMPAIGN_OVERLAP, "this campaign already has a quota of the SKU")
    lines = await stock.stock_of_sku(sku_id)
    if warehouse_id is not None:
        lines = [line for line in lines if line.warehouse_id == warehouse_id]
    if not lines:
        raise FailedPrecondition(
            ErrorCode.CAMPAIGN_QUOTA_EXCEEDS_STOCK, "no stock of the SKU to set the quota apart from"
        )
    line = max(lines, key=lambda candidate: (candidate.available, candidate.warehouse_id))
    try:
        moved, skus_moved = await stock.move(
            [Movement(line.id, MovementKind.CAMPAIGN_HOLD, 0, quota, reference=campaign_id)],
            actor=principal.subject,
        )
    except NotEnoughAvailable as exc:
        raise FailedPrecondition(
            ErrorCode.CAMPAIGN_QUOTA_EXCEEDS_STOCK,
            f"the quota of {quota} is more than warehouse {line.warehouse_id} has available",
        ) from exc
    # Checked after ``move`` took the SKU's row lock: concurrent creations for one SKU queue up here.
    clash = await allocations.overlapping_allocation(sku_id=sku_id, starts=terms.starts, ends=terms.ends)
    if clash is not None:
        raise FailedPrecondition(
            ErrorCode.CAMPAIGN_OVERLAP,
            f"campaign {clash.campaign_id} already has a quota of this SKU in an overlapping window",
            metadata={"campaign_id": str(clash.campaign_id)},
        )
    row = await allocations.add_allocation(
        {
            "id": new_id(),
            "campaign_id": campaign_id,
            "sku_id": sku_id,
            "warehouse_id": line.warehouse_id,
            "stock_id": line.id,
            "shop_id": shop_id,
            "quota": quota,
            "claimed": 0,
            "per_buyer_limit": terms.per_buyer_limit,
            "starts_at": terms.starts,
            "ends_at": terms.ends,
        }
    )
    # Staged last: nothing raised above may leave events behind.
    publish_stock_events(uow, moved, skus_moved)
    return row


async def create_allocation(
    *, inventory: Inventory, command: CreateAllocation, principal: Principal
) -> pb.FlashSaleAllocation:
    """Move the quota out of a warehouse's available units into the campaign's bucket."""
    async with inventory.database.unit_of_work(SOURCE) as uow:
        row = await allocate_quota(uow, command, principal, now=inventory.clock())
        await uow.commit()
    with contextlib.suppress(*VALKEY_ERRORS):
        # Best effort: the first claim loads the counters anyway.
        await inventory.flash_sales.load(row, {}, force=True)
    return allocation_to_proto(row)


async def get_allocation(*, inventory: Inventory, campaign_id: str, sku_id: str) -> pb.FlashSaleAllocation:
    """A campaign's quota of a SKU with its durable claimed count."""
    require_ids(("campaign_id", campaign_id), ("sku_id", sku_id))
    async with inventory.database.sessions() as session:
        row = await FlashSaleRepository(session).allocation(campaign_id, sku_id)
    if row is None:
        raise _not_found(campaign_id, sku_id)
    return allocation_to_proto(row)


# --- the hot path -------------------------------------------------------------------------------------------


async def list_held_claims(*, inventory: Inventory, principal: Principal) -> list[pb.FlashSaleClaim]:
    """The caller's claims a checkout may still use: only their own, however they ask."""
    async with inventory.database.sessions() as session:
        rows = await FlashSaleRepository(session).held_claims_of(
            principal.subject, inventory.clock(), limit=MAX_LISTED_CLAIMS
        )
    return [claim_to_proto(row) for row in rows]


async def claim_flash_sale(
    *,
    inventory: Inventory,
    campaign_id: str,
    sku_id: str,
    quantity: int,
    principal: Principal,
    idempotency_key: str = "",
) -> pb.ClaimFlashSaleResponse:
    """Claim units for the caller: refused from Valkey alone, recorded durably when granted."""
    ruled(
        partial(domain.positive_quantity, quantity, "quantity"),
        also=id_violations(("campaign_id", campaign_id), ("sku_id", sku_id)),
    )
    counters = inventory.flash_sales
    buyer = principal.subject
    granted = await _decrement(inventory, campaign_id, sku_id, buyer, quantity)
    if granted is None:
        # Valkey is unreachable: the database path alone is correct, only slower.
        allocation = await _allocation_or_raise(inventory, campaign_id, sku_id)
        allocation_id, limit = str(allocation.id), int(allocation.per_buyer_limit)
    else:
        allocation_id, limit = granted
    if counters.after_decrement is not None:
        await counters.after_decrement()
    claim_key = f"{buyer}:{idempotency_key}" if idempotency_key else new_id()
    try:
        response, repeated = await _record(
            inventory,
            allocation_id=allocation_id,
            buyer=buyer,
            quantity=quantity,
            limit=limit,
            claim_key=claim_key,
        )
    except DomainError:
        # The database refused what Valkey granted: Valkey was behind; make it agree again.
        if granted is not None:
            await _quietly(_reload(inventory, campaign_id, sku_id))
        raise
    except Exception:
        if granted is not None:
            await _quietly(counters.give_back(campaign_id, sku_id, buyer, quantity))
        raise
    if repeated and granted is not None:
        # A retry of a recorded claim: it must not take the units twice.
        await _quietly(counters.give_back(campaign_id, sku_id, buyer, quantity))
    return response


async def _decrement(
    inventory: Inventory, campaign_id: str, sku_id: str, buyer: str, quantity: int
) -> tuple[str, int] | None:
    """Run the claim script; (allocation id, per-buyer limit) when granted, None when Valkey is down."""
    counters = inventory.flash_sales
    try:
        taken = await counters.take(campaign_id, sku_id, buyer, quantity, inventory.clock())
        if taken.outcome is Outcome.NOT_LOADED:
            await _reload(inventory, campaign_id, sku_id, force=False)
            taken = await counters.take(campaign_id, sku_id, buyer, quantity, inventory.clock())
    except VALKEY_ERRORS as exc:
        if not counters.down_logged:
            log.warning(
                "valkey unavailable; flash-sale claims go to the database", extra={"error": repr(exc)}
            )
            counters.down_logged = True
        return None
    counters.down_logged = False
    if taken.outcome is Outcome.CLAIMED:
        return taken.allocation_id, taken.limit
    if taken.outcome is Outcome.SOLD_OUT:
        raise FailedPrecondition(ErrorCode.SOLD_OUT, "this flash sale is sold out")
    if taken.outcome is Outcome.NOT_STARTED:
        raise FailedPrecondition(ErrorCode.FLASH_SALE_NOT_STARTED, "this flash sale has not started yet")
    if taken.outcome is Outcome.ENDED:
        raise FailedPrecondition(ErrorCode.FLASH_SALE_ENDED, "this flash sale is over")
    if taken.outcome is Outcome.LIMIT_REACHED:
        raise FailedPrecondition(
            ErrorCode.PURCHASE_LIMIT_REACHED, f"at most {taken.limit} units per buyer; you have {taken.total}"
        )
    raise _not_found(campaign_id, sku_id)


async def _record(
    inventory: Inventory, *, allocation_id: str, buyer: str, quantity: int, limit: int, claim_key: str
) -> tuple[pb.ClaimFlashSaleResponse, bool]:
    """Write the claim durably; (answer, True) when the key was already recorded (a retry)."""
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = FlashSaleRepository(uow.session)
        claim_id = new_id()
        expires_at = inventory.clock() + inventory.claim_ttl
        if not await repository.insert_claim(
            claim_id=claim_id,
            allocation_id=allocation_id,
            buyer_id=buyer,
            quantity=quantity,
            claim_key=claim_key,
            expires_at=expires_at,
        ):
            earlier = await repository.claim_by_key(allocation_id, claim_key)
            assert earlier is not None  # the insert just met it
            totals = await repository.buyer_totals(allocation_id)
            return (
                pb.ClaimFlashSaleResponse(
                    claim_id=str(earlier.id),
                    quantity=earlier.quantity,
                    buyer_total=totals.get(buyer, 0),
                    expire_time=timestamp(earlier.expires_at),
                ),
                True,
            )
        total = await repository.add_to_buyer_total(
            allocation_id=allocation_id, buyer_id=buyer, quantity=quantity, limit=limit
        )
        if total is None:
            raise FailedPrecondition(ErrorCode.PURCHASE_LIMIT_REACHED, f"at most {limit} units per buyer")
        # Last, so the allocation's row lock (every claim's meeting point) is held as briefly as possible.
        if await repository.add_claimed(allocation_id, quantity, inventory.clock()) is None:
            raise FailedPrecondition(ErrorCode.SOLD_OUT, "this flash sale is sold out")
        await uow.commit()
    return (
        pb.ClaimFlashSaleResponse(
            claim_id=claim_id, quantity=quantity, buyer_total=total, expire_time=timestamp(expires_at)
        ),
        False,
    )


# --- claims that lapse, campaigns that end -----------------------------------------------------------------

UPKEEP_ACTOR = Principal(subject="inventory-flash-sales", roles=frozenset({"service"}))


async def flash_sale_upkeep(*, inventory: Inventory, limit: int = 100) -> int:
    """Give the units of held claims past their time back to their quotas, and put the unsold quota of
    ended campaigns back on sale; returns how many campaigns it touched. One transaction per campaign,
    its allocation row locked first (the order every writer keeps)."""
    now = inventory.clock()
    async with inventory.database.sessions() as session:
        due = await FlashSaleRepository(session).lapsed_claim_allocations(now, limit)
    for allocation_id in due:
        returned: list[ClaimReturned] = []
        async with inventory.database.unit_of_work(SOURCE) as uow:
            repository = FlashSaleRepository(uow.session)
            allocation = (await repository.lock_allocations([allocation_id]))[allocation_id]
            ended = allocation.ends_at <= now and allocation.closed_at is None
            lapsed = await repository.held_claims_due(allocation_id, now, all_held=ended)
            for claim in await repository.end_claims(
                [str(c.id) for c in lapsed], ClaimStatus.EXPIRED, from_status=ClaimStatus.HELD
            ):
                await repository.return_to_quota(allocation_id, claim.buyer_id, claim.quantity)
                returned.append(
                    ClaimReturned(
                        str(allocation.campaign_id), str(allocation.sku_id), claim.buyer_id, claim.quantity
                    )
                )
            if ended:
                # What no reservation holds or sold goes back on sale.
                unsold = allocation.quota - await repository.units_in_use(allocation_id)
                if unsold > 0:
                    await move_stock(
                        uow,
                        [
                            Movement(
                                str(allocation.stock_id),
                                MovementKind.RELEASE,
                                0,
                                -unsold,
                                reference=str(allocation.campaign_id),
                                reason="flash sale ended",
                            )
                        ],
                        UPKEEP_ACTOR,
                    )
                await repository.close_allocation(allocation_id, now)
            await uow.commit()
        if not ended:
            for claim_back in returned:
                await _quietly(
                    inventory.flash_sales.give_back(
                        claim_back.campaign_id, claim_back.sku_id, claim_back.buyer_id, claim_back.quantity
                    )
                )
    return len(due)


# --- reconciliation -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation pass did: the live allocations it checked, and how many it rewrote."""

    checked: int
    rewritten: int


async def reconcile_flash_sales(
    *, inventory: Inventory, force: bool = False, limit: int | None = None
) -> Reconciliation:
    """Bring the Valkey counters of live allocations in line with the durable claims.

    ``force`` rewrites every one (at start, before serving). Otherwise a counter is
    rewritten when missing, or when it disagrees with the database twice in a row
    with the same claimed count (a leaked decrement, not a claim in flight). With a
    ``limit``, one batch of allocations is checked, after those of the batch before:
    a short batch ends the pass, and the next one starts over.
    """
    counters = inventory.flash_sales
    async with inventory.database.sessions() as session:
        repository = FlashSaleRepository(session)
        after = counters.reconciled_up_to if limit is not None else None
        rows = await repository.live_allocations(inventory.clock(), after=after, limit=limit)
        if limit is not None:
            counters.reconciled_up_to = str(rows[-1].id) if len(rows) == limit else None
        rewritten = 0
        for row in rows:
            allocation_id = str(row.id)
            truth = row.quota - row.claimed
            if not force:
                remaining = await counters.remaining(str(row.campaign_id), str(row.sku_id))
                if remaining is not None:
                    if remaining == truth:
                        counters.suspects.pop(allocation_id, None)
                        continue
                    seen = (row.claimed, remaining)
                    if counters.suspects.get(allocation_id) != seen:
                        counters.suspects[allocation_id] = seen
                        continue
            counters.suspects.pop(allocation_id, None)
            await counters.load(row, await repository.buyer_totals(allocation_id), force=True)
            rewritten += 1
    return Reconciliation(checked=len(rows), rewritten=rewritten)


async def _reload(inventory: Inventory, campaign_id: str, sku_id: str, *, force: bool = True) -> None:
    """Load one allocation's counters from the database (or mark it unknown for a few seconds)."""
    async with inventory.database.sessions() as session:
        repository = FlashSaleRepository(session)
        row = await repository.allocation(campaign_id, sku_id)
        if row is None:
            await inventory.flash_sales.mark_unknown(campaign_id, sku_id)
            return
        await inventory.flash_sales.load(row, await repository.buyer_totals(str(row.id)), force=force)


async def _allocation_or_raise(inventory: Inventory, campaign_id: str, sku_id: str) -> Any:
    async with inventory.database.sessions() as session:
        row = await FlashSaleRepository(session).allocation(campaign_id, sku_id)
    if row is None:
        raise _not_found(campaign_id, sku_id)
    now = inventory.clock()
    if now < row.starts_at:
        raise FailedPrecondition(ErrorCode.FLASH_SALE_NOT_STARTED, "this flash sale has not started yet")
    if now >= row.ends_at:
        raise FailedPrecondition(ErrorCode.FLASH_SALE_ENDED, "this flash sale is over")
    return row


async def _quietly(call: Awaitable[object]) -> None:
    try:
        await call
    except VALKEY_ERRORS:
        # Reconciliation repairs what could not be repaired now.
        log.warning("cannot correct flash-sale counters now", exc_info=True)


def _not_found(campaign_id: str, sku_id: str) -> NotFound:
    return NotFound(ErrorCode.FLASH_SALE_NOT_FOUND, f"campaign {campaign_id} has no quota of SKU {sku_id}")
