"""The inventory's use cases for warehouses, stock movements and reservations: one function per command or
query, one transaction each.

Handlers take keyword-only arguments, the caller's principal among them, and
return protobuf messages. Stock moves only through ``InventoryRepository.move``
(conditional UPDATEs plus ledger rows); the events a movement raises
(``StockAvailabilityChanged`` when a SKU's quantity bucket changes, ``LowStock``
when a line falls to its reorder point) are staged in the same unit of work.

Reservations take ``on_hand - reserved`` (available), not minus safety stock: safety
stock is a replenishment buffer (it raises the reorder point), not units withheld
from buyers. Each reservation locks every stock line of its SKUs in id order
(``FOR UPDATE``), plans on the locked figures (nearest warehouse first: same city,
then same province, then the most available; lines may split), then moves them
with the conditional UPDATEs; concurrent multi-SKU reservations therefore never
deadlock and never take more than is available.

Who may do what (the RPC's declared roles and scopes are enforced before):
sellers manage their own shop's warehouses and stock; admins manage fulfilment
centres and anything else; the ``service`` role (the order service) reserves,
commits, releases and returns goods.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import Message

from toko.inventory.v1 import events_pb2
from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import Conflict, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from toko.platform.idempotency import idempotent
from toko.platform.ids import new_id, require_id
from toko.platform.pagination import Page, PageSpec, encode_token, id_after
from toko.services.inventory import domain
from toko.services.inventory.domain import (
    InsufficientStock,
    InvalidInput,
    Line,
    MovementKind,
    NotPossible,
    ReservationStatus,
    WarehouseKind,
)
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.mapping import (
    movement_to_proto,
    reservation_to_proto,
    stock_to_proto,
    warehouse_to_proto,
)
from toko.services.inventory.repository import (
    InventoryRepository,
    LineMoved,
    LotRequired,
    Movement,
    NewReservation,
    NotEnoughAvailable,
    SkuMoved,
    StockRow,
)

log = logging.getLogger(__name__)

SOURCE = "inventory"
WAREHOUSE_PAGES = PageSpec(default=50, maximum=100)
MOVEMENT_PAGES = PageSpec(default=50, maximum=200)


@dataclass(frozen=True)
class Inventory:
    """What the use cases work with: the database and a clock."""

    database: Database
    clock: Clock = field(default=utcnow)


# --- commands -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateWarehouse:
    """Add a shop warehouse or (admins) a fulfilment centre."""

    shop_id: str
    name: str
    address: str
    city: str
    kind: WarehouseKind | None


@dataclass(frozen=True)
class StockChange:
    """A movement of one SKU in one warehouse asked for by a client."""

    warehouse_id: str
    sku_id: str
    quantity: int
    reference: str = ""
    reason: str = ""
    # The lot of units arriving, for a perishable SKU: its code and expiry date (YYYY-MM-DD).
    lot_code: str = ""
    expiry_date: str = ""


@dataclass(frozen=True)
class Transfer:
    """Move available units of a SKU between two warehouses."""

    sku_id: str
    from_warehouse_id: str
    to_warehouse_id: str
    quantity: int


@dataclass(frozen=True)
class Reserve:
    """Hold stock of many SKUs for an order reference."""

    reference: str
    lines: tuple[Line, ...]
    buyer_city: str = ""
    ttl_seconds: int = 0


# --- warehouses ---------------------------------------------------------------------------------------------


async def create_warehouse(
    *, inventory: Inventory, command: CreateWarehouse, principal: Principal, idempotency_key: str = ""
) -> pb.Warehouse:
    """Add a warehouse; fulfilment centres belong to no shop and only admins add them."""
    with rules():
        if command.kind is None:
            raise InvalidInput(ErrorCode.INVALID_WAREHOUSE_KIND, "unknown warehouse kind", "kind")
        name = domain.required_text(
            command.name, "name", domain.NAME_MAX_LENGTH, ErrorCode.INVALID_WAREHOUSE_NAME
        )
        city = domain.required_text(command.city, "city", domain.CITY_MAX_LENGTH, ErrorCode.INVALID_CITY)
        address = domain.optional_text(
            command.address, "address", domain.ADDRESS_MAX_LENGTH, ErrorCode.INVALID_ADDRESS
        )
    shop_id: str | None
    if command.kind is WarehouseKind.FULFILMENT_CENTRE:
        if command.shop_id:
            raise InvalidArgument.field(
                "shop_id", "a fulfilment centre belongs to no shop", ErrorCode.INVALID_WAREHOUSE_KIND
            )
        if not principal.is_admin:
            raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins add fulfilment centres")
        shop_id = None
    else:
        shop_id = require_id(command.shop_id, "shop_id")
        authorize_shop(principal, shop_id)
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation="inventory.CreateWarehouse",
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.Warehouse.FromString(replay.stored)
            row = await InventoryRepository(uow.session).add_warehouse(
                warehouse_id=new_id(),
                shop_id=shop_id,
                name=name,
                address=address,
                city=city,
                kind=command.kind,
            )
            replay.response = warehouse_to_proto(row)
        await uow.commit()
    created: pb.Warehouse = replay.response
    return created


async def get_warehouse(*, inventory: Inventory, warehouse_id: str, principal: Principal) -> pb.Warehouse:
    """One warehouse; a shop's only to its sellers, admins and services."""
    require_id(warehouse_id, "id")
    async with inventory.database.sessions() as session:
        row = await InventoryRepository(session).warehouse(warehouse_id)
    if row is None or (row.shop_id is not None and not reads_shop(principal, str(row.shop_id))):
        raise _warehouse_not_found(warehouse_id)
    return warehouse_to_proto(row)


async def list_warehouses(
    *, inventory: Inventory, shop_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[pb.Warehouse]:
    """A shop's warehouses, or the fulfilment centres when ``shop_id`` is empty, oldest first."""
    size = WAREHOUSE_PAGES.size(page_size)
    shop = require_id(shop_id, "shop_id") if shop_id else None
    if shop is not None and not reads_shop(principal, shop):
        raise PermissionDenied(CommonReason.NOT_SHOP_OWNER, f"you do not manage shop {shop}")
    filters = [shop or ""]
    after = id_after(page_token, filters)
    async with inventory.database.sessions() as session:
        found = await InventoryRepository(session).warehouses_of(shop, after=after, limit=size + 1)
    token = encode_token([str(found[size - 1].id)], filters) if len(found) > size else ""
    return Page([warehouse_to_proto(row) for row in found[:size]], token)


async def update_warehouse(
    *, inventory: Inventory, warehouse: pb.Warehouse, mask: Sequence[str], principal: Principal
) -> pb.Warehouse:
    """Change a warehouse's name, address or city."""
    warehouse_id = require_id(warehouse.id, "warehouse.id")
    allowed = {"name", "address", "city"}
    if not mask or not set(mask) <= allowed:
        raise InvalidArgument.field(
            "update_mask",
            f"name the fields to change, of: {', '.join(sorted(allowed))}",
            CommonReason.INVALID_UPDATE_MASK,
        )
    values: dict[str, str] = {}
    with rules():
        if "name" in mask:
            values["name"] = domain.required_text(
                warehouse.name, "warehouse.name", domain.NAME_MAX_LENGTH, ErrorCode.INVALID_WAREHOUSE_NAME
            )
        if "city" in mask:
            values["city"] = domain.required_text(
                warehouse.city, "warehouse.city", domain.CITY_MAX_LENGTH, ErrorCode.INVALID_CITY
            )
        if "address" in mask:
            values["address"] = domain.optional_text(
                warehouse.address, "warehouse.address", domain.ADDRESS_MAX_LENGTH, ErrorCode.INVALID_ADDRESS
            )
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        await writable_warehouse(repository, warehouse_id, principal)
        row = await repository.update_warehouse(warehouse_id, values)
        await uow.commit()
    return warehouse_to_proto(row)


# --- stock movements ----------------------------------------------------------------------------------------


async def receive_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Book goods received into a warehouse."""
    with rules():
        quantity = domain.positive_quantity(change.quantity, "quantity")
        reference = _reference(change.reference)
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.ReceiveStock",
        kind=MovementKind.RECEIPT,
        on_hand_delta=quantity,
        reference=reference,
    )


async def return_to_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Put returned goods back on hand."""
    with rules():
        quantity = domain.positive_quantity(change.quantity, "quantity")
        reference = _reference(change.reference)
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.ReturnToStock",
        kind=MovementKind.RETURN_TO_STOCK,
        on_hand_delta=quantity,
        reference=reference,
    )


async def adjust_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Correct the quantity on hand by a signed delta, with the reason the books require."""
    with rules():
        delta = domain.adjustment_delta(change.quantity)
        reason = domain.adjustment_reason(change.reason)
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.AdjustStock",
        kind=MovementKind.ADJUSTMENT,
        on_hand_delta=delta,
        reason=reason,
    )


async def write_off_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Remove damaged, lost or expired units from what is available."""
    with rules():
        quantity = domain.positive_quantity(change.quantity, "quantity")
        reason = domain.adjustment_reason(change.reason)
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.WriteOffStock",
        kind=MovementKind.WRITE_OFF,
        on_hand_delta=-quantity,
        reason=reason,
    )


async def count_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal
) -> tuple[pb.StockLevel, int]:
    """Record a stock count: the difference to the books is posted as an adjustment (idempotent by nature).

    A perishable SKU is counted lot by lot: the count sets the named lot's units on hand, and the
    difference is an adjustment of that lot.
    """
    sku_id, warehouse_id = (
        require_id(change.sku_id, "sku_id"),
        require_id(change.warehouse_id, "warehouse_id"),
    )
    with rules():
        counted = domain.non_negative_quantity(change.quantity, "counted")
        reason = domain.optional_text(
            change.reason, "reason", domain.REASON_MAX_LENGTH, ErrorCode.INVALID_REASON
        )
        named_lot = (
            domain.lot_identity(change.lot_code, change.expiry_date)
            if change.lot_code or change.expiry_date
            else None
        )
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        warehouse = await writable_warehouse(repository, warehouse_id, principal)
        line = await stock_line_for(repository, warehouse, sku_id, create=True)
        # Locked so that the difference is taken against the very quantity it is applied to.
        line = await repository.lock_line(line.id)
        difference = counted - line.on_hand
        lots: tuple[domain.LotDelta, ...] = ()
        if await repository.is_perishable(sku_id):
            if named_lot is None:
                raise InvalidArgument.field(
                    "lot_code",
                    "the SKU is perishable: count it lot by lot, naming the lot_code and expiry_date",
                    ErrorCode.LOT_REQUIRED,
                )
            with rules():
                lot = domain.lot_count_delta(
                    await repository.lots(line.id), *named_lot, counted, inventory.clock().date()
                )
            difference, lots = lot.on_hand_delta, (lot,)
        if difference == 0:
            return stock_to_proto(line), 0
        adjustment = Movement(
            line.id, MovementKind.ADJUSTMENT, difference, 0, reason=reason or "stock count", lots=lots
        )
        moved = await move_stock(uow, [adjustment], principal)
        await uow.commit()
    return stock_to_proto(moved[0].row), difference


async def set_stock_policy(
    *,
    inventory: Inventory,
    warehouse_id: str,
    sku_id: str,
    safety_stock: int,
    reorder_point: int,
    principal: Principal,
) -> pb.StockLevel:
    """Set a line's safety stock and reorder point."""
    require_id(sku_id, "sku_id")
    require_id(warehouse_id, "warehouse_id")
    with rules():
        domain.non_negative_quantity(safety_stock, "safety_stock", ErrorCode.INVALID_STOCK_POLICY)
        domain.non_negative_quantity(reorder_point, "reorder_point", ErrorCode.INVALID_STOCK_POLICY)
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        warehouse = await writable_warehouse(repository, warehouse_id, principal)
        line = await stock_line_for(repository, warehouse, sku_id, create=True)
        row = await repository.set_policy(line.id, safety_stock=safety_stock, reorder_point=reorder_point)
        await uow.commit()
    return stock_to_proto(row)


async def set_sku_perishable(
    *, inventory: Inventory, sku_id: str, shop_id: str, perishable: bool, principal: Principal
) -> bool:
    """Keep a SKU's stock in lots with expiry dates (or not); only while the SKU holds no units."""
    sku_id = require_id(sku_id, "sku_id")
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        facts = await repository.sku_facts([sku_id])
        owner = facts[sku_id][0] if sku_id in facts else require_id(shop_id, "shop_id")
        authorize_shop(principal, owner)
        if await repository.set_perishable(sku_id=sku_id, shop_id=owner, perishable=perishable):
            raise FailedPrecondition(
                ErrorCode.PERISHABLE_CHANGE_WITH_STOCK,
                "the SKU holds units: change whether it is perishable once none are left",
            )
        await uow.commit()
    return perishable


async def transfer_stock(
    *, inventory: Inventory, command: Transfer, principal: Principal, idempotency_key: str = ""
) -> tuple[str, pb.StockLevel, pb.StockLevel]:
    """Move available units between two warehouses: a transfer_out and a transfer_in ledger row."""
    sku_id = require_id(command.sku_id, "sku_id")
    source_id = require_id(command.from_warehouse_id, "from_warehouse_id")
    target_id = require_id(command.to_warehouse_id, "to_warehouse_id")
    if source_id == target_id:
        raise InvalidArgument.field(
            "to_warehouse_id", "must differ from from_warehouse_id", ErrorCode.SAME_WAREHOUSE_TRANSFER
        )
    with rules():
        quantity = domain.positive_quantity(command.quantity, "quantity")
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation="inventory.TransferStock",
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                stored = pb.TransferStockResponse.FromString(replay.stored)
                return stored.transfer_id, stored.source, stored.destination
            repository = InventoryRepository(uow.session)
            source = await writable_warehouse(repository, source_id, principal)
            target = await writable_warehouse(repository, target_id, principal)
            source_line = await stock_line_for(repository, source, sku_id, create=False)
            target_line = await stock_line_for(repository, target, sku_id, create=True)
            transfer_id = new_id()
            out_lots: tuple[domain.LotDelta, ...] = ()
            if await repository.is_perishable(sku_id):
                # The lots leave first-expired-first-out and arrive as they are, expiry dates and all.
                for stock_id in sorted((source_line.id, target_line.id)):
                    await repository.lock_line(stock_id)
                try:
                    out_lots = tuple(
                        domain.plan_lot_deltas(
                            await repository.lots(source_line.id), -quantity, 0, inventory.clock().date()
                        )
                    )
                except domain.LotsShort as exc:
                    raise FailedPrecondition(
                        ErrorCode.INSUFFICIENT_STOCK, "not enough stock available for transfer_out"
                    ) from exc
            in_lots = tuple(domain.LotDelta(d.code, d.expires_on, -d.on_hand_delta, 0) for d in out_lots)
            moved = await move_stock(
                uow,
                [
                    Movement(
                        source_line.id,
                        MovementKind.TRANSFER_OUT,
                        -quantity,
                        0,
                        reference=transfer_id,
                        lots=out_lots,
                    ),
                    Movement(
                        target_line.id,
                        MovementKind.TRANSFER_IN,
                        quantity,
                        0,
                        reference=transfer_id,
                        lots=in_lots,
                    ),
                ],
                principal,
            )
            by_id = {line.row.id: line.row for line in moved}
            replay.response = pb.TransferStockResponse(
                transfer_id=transfer_id,
                source=stock_to_proto(by_id[source_line.id]),
                destination=stock_to_proto(by_id[target_line.id]),
            )
        await uow.commit()
    return replay.response.transfer_id, replay.response.source, replay.response.destination


async def get_sku_stock(*, inventory: Inventory, sku_id: str, principal: Principal) -> pb.GetSkuStockResponse:
    """A SKU's stock in every warehouse holding it, and in total."""
    require_id(sku_id, "sku_id")
    async with inventory.database.sessions() as session:
        repository = InventoryRepository(session)
        facts = await repository.sku_facts([sku_id])
        levels = await repository.stock_of_sku(sku_id)
    if sku_id not in facts or not reads_shop(principal, facts[sku_id][0]):
        raise NotFound(ErrorCode.SKU_NOT_STOCKED, f"no stock of SKU {sku_id}")
    available = sum(level.available for level in levels)
    return pb.GetSkuStockResponse(
        levels=[stock_to_proto(level) for level in levels],
        on_hand=sum(level.on_hand for level in levels),
        available=available,
        quantity_bucket=domain.quantity_bucket(available),
    )


async def list_movements(
    *,
    inventory: Inventory,
    warehouse_id: str,
    sku_id: str,
    principal: Principal,
    page_size: int = 0,
    page_token: str = "",
) -> Page[pb.StockMovement]:
    """The ledger of one stock line, newest first."""
    require_id(warehouse_id, "warehouse_id")
    require_id(sku_id, "sku_id")
    size = MOVEMENT_PAGES.size(page_size)
    filters = [warehouse_id, sku_id]
    before = id_after(page_token, filters)
    async with inventory.database.sessions() as session:
        repository = InventoryRepository(session)
        await writable_warehouse(repository, warehouse_id, principal)
        line = await repository.stock_line(sku_id=sku_id, warehouse_id=warehouse_id)
        if line is None:
            raise NotFound(
                ErrorCode.SKU_NOT_STOCKED, f"warehouse {warehouse_id} has no stock of SKU {sku_id}"
            )
        found = await repository.movements(line.id, before=before, limit=size + 1)
    token = encode_token([str(found[size - 1].id)], filters) if len(found) > size else ""
    return Page([movement_to_proto(row) for row in found[:size]], token)


async def _single_movement(
    inventory: Inventory,
    change: StockChange,
    principal: Principal,
    idempotency_key: str,
    *,
    operation: str,
    kind: MovementKind,
    on_hand_delta: int,
    reference: str = "",
    reason: str = "",
) -> pb.StockLevel:
    sku_id, warehouse_id = (
        require_id(change.sku_id, "sku_id"),
        require_id(change.warehouse_id, "warehouse_id"),
    )
    lots: tuple[domain.LotDelta, ...] = ()
    if on_hand_delta > 0 and (change.lot_code or change.expiry_date):
        with rules():
            code, expires_on = domain.incoming_lot(
                change.lot_code, change.expiry_date, inventory.clock().date()
            )
        lots = (domain.LotDelta(code, expires_on, on_hand_delta, 0),)
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session, operation=operation, caller=principal.subject, key=idempotency_key, command=change
        ) as replay:
            if replay.stored is not None:
                return pb.StockLevel.FromString(replay.stored)
            repository = InventoryRepository(uow.session)
            if kind is MovementKind.RETURN_TO_STOCK and "service" in principal.roles:
                warehouse = await _warehouse(repository, warehouse_id)
            else:
                warehouse = await writable_warehouse(repository, warehouse_id, principal)
            line = await stock_line_for(repository, warehouse, sku_id, create=on_hand_delta > 0)
            moved = await move_stock(
                uow,
                [Movement(line.id, kind, on_hand_delta, 0, reference=reference, reason=reason, lots=lots)],
                principal,
            )
            replay.response = stock_to_proto(moved[0].row)
        await uow.commit()
    level: pb.StockLevel = replay.response
    return level


# --- reservations -------------------------------------------------------------------------------------------


async def reserve(*, inventory: Inventory, command: Reserve, principal: Principal) -> pb.Reservation:
    """Hold every line or none, nearest warehouses first; a retried reference gets the same answer."""
    reference = _reference(command.reference, required=True)
    for index, line in enumerate(command.lines):
        require_id(line.sku_id, f"lines[{index}].sku_id")
    with rules():
        lines = domain.validate_lines(command.lines)
        ttl = domain.reservation_ttl(command.ttl_seconds)
        city = domain.optional_text(
            command.buyer_city, "buyer_city", domain.CITY_MAX_LENGTH, ErrorCode.INVALID_CITY
        )
    digest = domain.lines_digest(lines)
    sku_ids = sorted(line.sku_id for line in lines)
    reservation = NewReservation(
        id=new_id(),
        reference=reference,
        status=ReservationStatus.ACTIVE,
        lines=lines,
        lines_digest=digest,
        buyer_city=city,
        actor=principal.subject,
        expires_at=inventory.clock() + ttl,
    )
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        inputs = await repository.claim_reservation(reservation, sku_ids, inventory.clock().date())
        if inputs is None:
            existing = await repository.reservation(reference)
            if existing is None:  # the claim that held the reference was rolled back meanwhile
                raise Conflict(ErrorCode.RESERVATION_REFERENCE_BUSY, "the reference is being reserved; retry")
            if existing.lines_digest != digest:
                raise FailedPrecondition(
                    ErrorCode.RESERVATION_REFERENCE_REUSED,
                    f"reference {reference!r} was already used for other lines",
                )
            return reservation_to_proto(existing, await repository.allocations_of([existing.id]))
        unstocked = [sku for sku in sku_ids if sku not in inputs.stocked]
        facts = await repository.sku_facts(unstocked) if unstocked else {}
        unknown = [sku for sku in unstocked if sku not in facts]
        if unknown:
            raise NotFound(
                ErrorCode.SKU_NOT_STOCKED,
                f"no stock is kept of: {', '.join(unknown)}",
                metadata={"sku_ids": ",".join(unknown)},
            )
        archived = sorted(inputs.archived | {sku for sku, (_, gone) in facts.items() if gone})
        if archived:
            raise FailedPrecondition(
                ErrorCode.SKU_ARCHIVED,
                f"off sale for good: {', '.join(archived)}",
                metadata={"sku_ids": ",".join(archived)},
            )
        with rules():
            plan = domain.plan_allocation(lines, inputs.candidates, city)
        await move_stock(
            uow,
            [
                Movement(a.stock_id, MovementKind.RESERVATION, 0, a.quantity, reference=reference)
                for a in plan
            ],
            principal,
        )
        await repository.add_allocations(reservation.id, plan)
        await uow.commit()
    return reservation_to_proto(inputs.row, sorted(plan, key=lambda a: (a.sku_id, a.warehouse_id)))


async def commit_reservation(*, inventory: Inventory, reference: str, principal: Principal) -> pb.Reservation:
    """Sell what a reservation holds; committing twice is harmless, committing a lapsed one is refused."""
    reference = _reference(reference, required=True)
    expired = False
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        row = await repository.reservation(reference, for_update=True)
        if row is None:
            raise _reservation_not_found(reference)
        status = ReservationStatus(row.status)
        if status is ReservationStatus.COMMITTED:
            return reservation_to_proto(row, await repository.allocations_of([row.id]))
        if status is not ReservationStatus.ACTIVE:
            raise _lapsed(reference, status)
        if row.expires_at <= inventory.clock():
            # Past its time but not yet collected by the worker: expire it here, then refuse.
            await _end_reservations(uow, [row], ReservationStatus.EXPIRED, principal)
            expired = True
        else:
            allocations = await repository.allocations_of([row.id])
            await move_stock(
                uow,
                [
                    Movement(
                        str(a.stock_id), MovementKind.SALE, -a.quantity, -a.quantity, reference=reference
                    )
                    for a in allocations
                ],
                principal,
            )
            (committed,) = await repository.set_reservation_status([row.id], ReservationStatus.COMMITTED)
            message = reservation_to_proto(committed, allocations)
            uow.publish(events_pb2.ReservationCommitted(reservation=message), subject=reference)
        await uow.commit()
    if expired:
        raise _lapsed(reference, ReservationStatus.EXPIRED)
    return message


async def release_reservation(
    *, inventory: Inventory, reference: str, principal: Principal
) -> pb.Reservation:
    """Give a reservation's stock back; releasing a released or expired one changes nothing."""
    reference = _reference(reference, required=True)
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = InventoryRepository(uow.session)
        row = await repository.reservation(reference, for_update=True)
        if row is None:
            raise _reservation_not_found(reference)
        status = ReservationStatus(row.status)
        if status is ReservationStatus.COMMITTED:
            raise FailedPrecondition(
                ErrorCode.RESERVATION_COMMITTED,
                f"reservation {reference!r} was sold; return the goods instead",
            )
        if status is not ReservationStatus.ACTIVE:
            return reservation_to_proto(row, await repository.allocations_of([row.id]))
        (message,) = await _end_reservations(uow, [row], ReservationStatus.RELEASED, principal)
        await uow.commit()
    return message


async def get_reservation(*, inventory: Inventory, reference: str) -> pb.Reservation:
    """A reservation by its reference."""
    reference = _reference(reference, required=True)
    async with inventory.database.sessions() as session:
        repository = InventoryRepository(session)
        row = await repository.reservation(reference)
        if row is None:
            raise _reservation_not_found(reference)
        return reservation_to_proto(row, await repository.allocations_of([row.id]))


EXPIRY_ACTOR = Principal(subject="inventory-expiry", roles=frozenset({"service"}))


async def expire_due_reservations(*, inventory: Inventory, limit: int = 100) -> int:
    """Release one batch of reservations past their time; returns how many. Safe on many replicas."""
    async with inventory.database.unit_of_work(SOURCE) as uow:
        rows = await InventoryRepository(uow.session).claim_expired(now=inventory.clock(), limit=limit)
        if not rows:
            return 0
        await _end_reservations(uow, rows, ReservationStatus.EXPIRED, EXPIRY_ACTOR)
        await uow.commit()
    return len(rows)


async def _end_reservations(
    uow: UnitOfWork, rows: Sequence[Any], status: ReservationStatus, principal: Principal
) -> list[pb.Reservation]:
    """Release the stock of locked active reservations and mark them ``status``, with their events."""
    repository = InventoryRepository(uow.session)
    ids = [row.id for row in rows]
    allocations = await repository.allocations_of(ids)
    reference_of = {row.id: row.reference for row in rows}
    # One move for the whole batch: its stock rows are then locked in one global id order.
    await move_stock(
        uow,
        [
            Movement(
                str(a.stock_id),
                MovementKind.RELEASE,
                0,
                -a.quantity,
                reference=reference_of[a.reservation_id],
                reason=status.value,
            )
            for a in allocations
        ],
        principal,
    )
    ended = await repository.set_reservation_status(ids, status)
    messages = []
    for row in ended:
        message = reservation_to_proto(row, [a for a in allocations if a.reservation_id == row.id])
        event: Message = (
            events_pb2.ReservationExpired(reservation=message)
            if status is ReservationStatus.EXPIRED
            else events_pb2.ReservationReleased(reservation=message)
        )
        uow.publish(event, subject=row.reference)
        messages.append(message)
    return messages


# --- shared helpers -----------------------------------------------------------------------------------------


@contextlib.contextmanager
def rules() -> Iterator[None]:
    """Turn the domain's rule errors into the platform's errors."""
    try:
        yield
    except InsufficientStock as exc:
        raise FailedPrecondition(
            exc.reason, exc.message, metadata={"sku_ids": ",".join(sorted(exc.shortages))}
        ) from exc
    except InvalidInput as exc:
        raise InvalidArgument.field(exc.field, exc.message, exc.reason) from exc
    except NotPossible as exc:
        raise FailedPrecondition(exc.reason, exc.message) from exc


async def move_stock(uow: UnitOfWork, movements: Sequence[Movement], principal: Principal) -> list[LineMoved]:
    """Apply movements and stage the availability and low-stock events they cause."""
    try:
        lines, skus_moved = await InventoryRepository(uow.session).move(movements, actor=principal.subject)
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


async def _warehouse(repository: InventoryRepository, warehouse_id: str) -> Any:
    row = await repository.warehouse(warehouse_id)
    if row is None:
        raise _warehouse_not_found(warehouse_id)
    return row


async def writable_warehouse(repository: InventoryRepository, warehouse_id: str, principal: Principal) -> Any:
    """The warehouse, when the caller manages it (its shop's sellers; admins for fulfilment centres)."""
    row = await repository.warehouse(warehouse_id)
    if row is None or (row.shop_id is not None and not principal.manages(str(row.shop_id))):
        # Another shop's warehouse is reported as missing: its existence is that shop's business.
        raise _warehouse_not_found(warehouse_id)
    if row.shop_id is None and not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins manage fulfilment centres")
    return row


async def stock_line_for(
    repository: InventoryRepository, warehouse: Any, sku_id: str, *, create: bool
) -> StockRow:
    """The stock line of a SKU in a warehouse, checking that the SKU belongs in it."""
    facts = await repository.sku_facts([sku_id])
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
    if create:
        return await repository.ensure_stock_line(
            sku_id=sku_id, warehouse_id=str(warehouse.id), shop_id=shop_id
        )
    line = await repository.stock_line(sku_id=sku_id, warehouse_id=str(warehouse.id))
    if line is None:
        raise FailedPrecondition(
            ErrorCode.INSUFFICIENT_STOCK, f"warehouse {warehouse.id} holds no stock of SKU {sku_id}"
        )
    return line


def reads_shop(principal: Principal, shop_id: str) -> bool:
    """Whether the caller may read the stock of ``shop_id``: who manages it, and the platform's services."""
    return principal.manages(shop_id) or "service" in principal.roles


def authorize_shop(principal: Principal, shop_id: str) -> None:
    """Raise unless the caller manages ``shop_id``."""
    if not principal.manages(shop_id):
        raise PermissionDenied(CommonReason.NOT_SHOP_OWNER, f"you do not manage shop {shop_id}")


def _reference(value: str, *, required: bool = False) -> str:
    text = value.strip()
    if (required and not text) or len(text) > domain.REFERENCE_MAX_LENGTH:
        raise InvalidArgument.field(
            "reference",
            f"must be {int(required)} to {domain.REFERENCE_MAX_LENGTH} characters",
            ErrorCode.INVALID_REFERENCE,
        )
    return text


def _warehouse_not_found(warehouse_id: str) -> NotFound:
    return NotFound(ErrorCode.WAREHOUSE_NOT_FOUND, f"no warehouse {warehouse_id}")


def _reservation_not_found(reference: str) -> NotFound:
    return NotFound(ErrorCode.RESERVATION_NOT_FOUND, f"no reservation {reference!r}")


def _lapsed(reference: str, status: ReservationStatus) -> FailedPrecondition:
    return FailedPrecondition(
        ErrorCode.RESERVATION_EXPIRED,
        f"reservation {reference!r} was {status.value}; its stock is no longer held",
        metadata={"status": status.value},
    )
