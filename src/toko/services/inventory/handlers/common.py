"""What every use case of the inventory shares: its dependencies, who may reach a shop's stock, the one way
stock moves (``move_stock``) and the translation of the domain's errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from toko.inventory.v1 import events_pb2
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from toko.platform.ids import is_id
from toko.platform.rules import ValidationFailed, Violation
from toko.platform.validation import invalid
from toko.services.inventory import domain
from toko.services.inventory.counters import FlashSaleCounters
from toko.services.inventory.domain import (
    Allocated,
    ClaimStatus,
    InsufficientStock,
    Line,
    MovementKind,
    NotPossible,
)
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.repository.common import StockRow
from toko.services.inventory.repository.flash_sales import FlashSaleRepository
from toko.services.inventory.repository.skus import SkuRepository
from toko.services.inventory.repository.stock import (
    LineMoved,
    LotRequired,
    Movement,
    NotEnoughAvailable,
    SkuMoved,
    StockRepository,
)
from toko.services.inventory.repository.warehouses import WarehouseRepository

SOURCE = "inventory"


@dataclass
class ExpiryAlarm:
    """When the expiry worker next means to look for reservations past their time, and how to wake it sooner.

    As it goes idle the worker looks up the earliest expiry (``looking``, then ``planned``); a
    reservation due before that, or made while it looks or knows of none, rings the alarm. So
    the worker may sleep long while nothing is due and still expire each reservation about on time.
    """

    wake: asyncio.Event = field(default_factory=asyncio.Event)
    due_at: datetime | None = None

    def looking(self) -> None:
        """The worker is looking up the earliest expiry: until it knows, every new reservation rings."""
        self.due_at = None

    def planned(self, due_at: datetime | None) -> None:
        """The worker will look again by ``due_at`` (None: it knows of nothing due), or when rung sooner."""
        if due_at is not None and (self.due_at is None or due_at < self.due_at):
            self.due_at = due_at

    def reserved_until(self, expires_at: datetime) -> None:
        """A reservation was made that expires at ``expires_at``: wake the worker if it is due first."""
        if self.due_at is None or expires_at < self.due_at:
            self.due_at = expires_at
            self.wake.set()


@dataclass(frozen=True)
class Inventory:
    """What the use cases work with: the database, the flash-sale counters in Valkey, the expiry worker's
    alarm and a clock."""

    database: Database
    flash_sales: FlashSaleCounters
    expiry_alarm: ExpiryAlarm = field(default_factory=ExpiryAlarm)
    clock: Clock = field(default=utcnow)
    # How long a flash-sale claim is held for its buyer's checkout before its units go back to the quota.
    claim_ttl: timedelta = timedelta(minutes=15)


@contextlib.contextmanager
def rules() -> Iterator[None]:
    """Turn the errors of the domain's rules about the state of things into the platform's errors."""
    try:
        yield
    except ValidationFailed as exc:
        raise invalid(exc.violations) from exc
    except InsufficientStock as exc:
        raise FailedPrecondition(
            exc.reason, exc.message, metadata={"sku_ids": ",".join(sorted(exc.shortages))}
        ) from exc
    except NotPossible as exc:
        raise FailedPrecondition(exc.reason, exc.message) from exc


def id_violations(*named: tuple[str, str]) -> list[Violation]:
    """A violation for each (field, value) whose value is not a UUID."""
    return [
        Violation(field, "must be a UUID", CommonReason.INVALID_ID)
        for field, value in named
        if not is_id(value)
    ]


def require_ids(*named: tuple[str, str]) -> None:
    """Raise one INVALID_ARGUMENT naming every (field, value) whose value is not a UUID."""
    if found := id_violations(*named):
        raise invalid(found)


# --- who may reach what -------------------------------------------------------------------------------------


def reads_shop(principal: Principal, shop_id: str) -> bool:
    """Whether the caller may read the stock of ``shop_id``: who manages it, and the platform's services."""
    return principal.manages(shop_id) or "service" in principal.roles


def authorize_shop(principal: Principal, shop_id: str) -> None:
    """Raise unless the caller manages ``shop_id``."""
    if not principal.manages(shop_id):
        raise PermissionDenied(CommonReason.NOT_SHOP_OWNER, f"you do not manage shop {shop_id}")


def warehouse_not_found(warehouse_id: str) -> NotFound:
    """The error of a warehouse that does not exist, or that the caller may not know of."""
    return NotFound(ErrorCode.WAREHOUSE_NOT_FOUND, f"no warehouse {warehouse_id}")


async def existing_warehouse(session: AsyncSession, warehouse_id: str) -> Any:
    """The warehouse, whoever manages it."""
    row = await WarehouseRepository(session).warehouse(warehouse_id)
    if row is None:
        raise warehouse_not_found(warehouse_id)
    return row


async def writable_warehouse(session: AsyncSession, warehouse_id: str, principal: Principal) -> Any:
    """The warehouse, when the caller manages it (its shop's sellers; admins for fulfilment centres)."""
    row = await WarehouseRepository(session).warehouse(warehouse_id)
    if row is None or (row.shop_id is not None and not principal.manages(str(row.shop_id))):
        # Another shop's warehouse is reported as missing: its existence is that shop's business.
        raise warehouse_not_found(warehouse_id)
    if row.shop_id is None and not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins manage fulfilment centres")
    return row


async def stock_line_for(session: AsyncSession, warehouse: Any, sku_id: str, *, create: bool) -> StockRow:
    """The stock line of a SKU in a warehouse, checking that the SKU belongs in it."""
    facts = await SkuRepository(session).sku_facts([sku_id])
    warehouse_shop = str(warehouse.shop_id) if warehouse.shop_id else None
    if sku_id in facts:
        shop_id = facts[sku_id][0]
        if warehouse_shop is not None and shop_id != warehouse_shop:
            raise InvalidArgument.field("sku_id", "belongs to another shop", ErrorCode.SKU_OF_ANOTHER_SHOP)
    elif warehouse_shop is None:
        # A fulfilment centre keeps stock of many shops: it must know whose SKU this is.
        raise NotFound(ErrorCode.SKU_NOT_STOCKED, f"SKU {sku_id} is not known to the inventory yet")
    else:
        shop_id = warehouse_shop
    stock = StockRepository(session)
    if create:
        return await stock.ensure_stock_line(sku_id=sku_id, warehouse_id=str(warehouse.id), shop_id=shop_id)
    line = await stock.stock_line(sku_id=sku_id, warehouse_id=str(warehouse.id))
    if line is None:
        raise FailedPrecondition(
            ErrorCode.INSUFFICIENT_STOCK, f"warehouse {warehouse.id} holds no stock of SKU {sku_id}"
        )
    return line


# --- moving stock -------------------------------------------------------------------------------------------


async def move_stock(uow: UnitOfWork, movements: Sequence[Movement], principal: Principal) -> list[LineMoved]:
    """Apply movements and stage the availability and low-stock events they cause."""
    try:
        lines, skus_moved = await StockRepository(uow.session).move(movements, actor=principal.subject)
    except LotRequired as exc:
        raise InvalidArgument.field(
            "lot_code",
            f"the SKU is perishable: a {exc.movement.kind.value} needs a lot code and an expiry date",
            ErrorCode.LOT_REQUIRED,
        ) from exc
    except NotEnoughAvailable as exc:
        # The transaction rolls back when this propagates, so nothing of the request is written.
        raise FailedPrecondition(
            ErrorCode.INSUFFICIENT_STOCK,
            f"not enough stock available for {exc.movement.kind.value}",
            metadata={"stock_id": exc.movement.stock_id},
        ) from exc
    publish_stock_events(uow, lines, skus_moved)
    return lines


def publish_stock_events(uow: UnitOfWork, lines: Sequence[LineMoved], skus_moved: Sequence[SkuMoved]) -> None:
    """Stage StockAvailabilityChanged for SKUs whose bucket changed and LowStock for lines that fell low."""
    for sku in skus_moved:
        if sku.bucket_changed:
            uow.publish(
                events_pb2.StockAvailabilityChanged(
                    sku_id=sku.sku_id,
                    shop_id=sku.shop_id,
                    in_stock=sku.available_after > 0,
                    quantity_bucket=domain.quantity_bucket(sku.available_after),
                    version=sku.version,
                ),
                subject=sku.sku_id,
            )
    for line in lines:
        if domain.crossed_into_low(line.available_before, line.row.available, line.row.reorder_point):
            uow.publish(
                events_pb2.LowStock(
                    sku_id=line.row.sku_id,
                    warehouse_id=line.row.warehouse_id,
                    shop_id=line.row.shop_id,
                    available=line.row.available,
                    reorder_point=line.row.reorder_point,
                ),
                subject=line.row.sku_id,
            )


# --- flash-sale claims bought through checkout -------------------------------------------------------------
#
# A campaign's quota sits in its stock line's reserved units from the moment it is allocated. A claim
# counts units of it for one buyer; a reservation line citing the claim holds those very units (no
# stock moves), a commit sells them like any reserved unit, and a release gives them back to the quota
# (or, once the campaign is over and its quota back on sale, to the shelf).


@dataclass(frozen=True)
class ClaimReturned:
    """Units of a claim given back to its campaign's quota: the Valkey counters get them back too."""

    campaign_id: str
    sku_id: str
    buyer_id: str
    quantity: int


async def hold_claimed_lines(
    session: AsyncSession, lines: Sequence[Line], *, buyer_id: str, reference: str, now: datetime
) -> list[Allocated]:
    """Use the claims of a reservation's flash-sale lines: where their units are, or refuse them all."""
    claimed = [line for line in lines if line.claim_id]
    repository = FlashSaleRepository(session)
    claims = await repository.claims_for_reservation([line.claim_id for line in claimed])
    problems: list[str] = []
    held: list[Allocated] = []
    for line in claimed:
        claim = claims.get(line.claim_id)
        if claim is None or claim.buyer_id != buyer_id or str(claim.sku_id) != line.sku_id:
            problems.append(f"{line.claim_id}: not a claim of this buyer for SKU {line.sku_id}")
        elif claim.quantity != line.quantity:
            problems.append(f"{line.claim_id}: claims {claim.quantity} units, the line wants {line.quantity}")
        elif claim.status != ClaimStatus.HELD.value or claim.expires_at <= now or claim.ends_at <= now:
            problems.append(f"{line.claim_id}: used, lapsed or its flash sale is over")
        else:
            held.append(
                Allocated(
                    str(claim.stock_id), line.sku_id, str(claim.warehouse_id), line.quantity, line.claim_id
                )
            )
    if problems:
        raise FailedPrecondition(
            ErrorCode.FLASH_SALE_CLAIM_INVALID,
            "; ".join(problems),
            metadata={"claim_ids": ",".join(line.claim_id for line in claimed)},
        )
    await repository.use_claims([a.claim_id for a in held if a.claim_id], reference)
    return held


async def give_back_claims(
    session: AsyncSession, allocations: Sequence[Any], *, reference: str, reason: str
) -> tuple[list[ClaimReturned], list[Movement]]:
    """Release the claims a released reservation used: back to the quota while the campaign is on, else
    the stock movements that put them back on the shelf. Locks the campaigns' allocations first."""
    claim_ids = [str(a.claim_id) for a in allocations if a.claim_id is not None]
    repository = FlashSaleRepository(session)
    claims = await repository.claims_by_id(claim_ids)
    campaigns = await repository.lock_allocations([str(claim.allocation_id) for claim in claims])
    released = await repository.end_claims(claim_ids, ClaimStatus.RELEASED, from_status=ClaimStatus.USED)
    by_id = {str(claim.id): claim for claim in claims}
    returned: list[ClaimReturned] = []
    shelf: list[Movement] = []
    for row in released:
        claim = by_id[str(row.id)]
        campaign = campaigns[str(claim.allocation_id)]
        if campaign.closed_at is None:
            await repository.return_to_quota(str(campaign.id), claim.buyer_id, claim.quantity)
            returned.append(
                ClaimReturned(str(claim.campaign_id), str(claim.sku_id), claim.buyer_id, claim.quantity)
            )
        else:
            shelf.append(
                Movement(
                    str(claim.stock_id),
                    MovementKind.RELEASE,
                    0,
                    -claim.quantity,
                    reference=reference,
                    reason=reason,
                )
            )
    return returned, shelf
