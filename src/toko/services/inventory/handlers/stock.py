"""Stock and its ledger: receipts, returns, adjustments, write-offs, counts, transfers between warehouses,
stock policies, perishable SKUs, and reading a SKU's stock and a line's movements.

Every movement goes through ``move_stock`` (conditional UPDATEs plus ledger rows), and the events it
raises (``StockAvailabilityChanged`` when a SKU's quantity bucket changes, ``LowStock`` when a line falls
to its reorder point) are staged in the same unit of work. Sellers move their own shop's stock, admins
anything; the ``service`` role (the order service) returns goods to any warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from toko.platform.idempotency import idempotent
from toko.platform.ids import new_id, require_id
from toko.platform.pagination import Page, PageSpec, encode_token, id_after
from toko.platform.rules import Violation
from toko.platform.validation import ruled
from toko.services.inventory import domain
from toko.services.inventory.domain import MovementKind
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.handlers.common import (
    SOURCE,
    Inventory,
    authorize_shop,
    existing_warehouse,
    id_violations,
    move_stock,
    reads_shop,
    require_ids,
    rules,
    stock_line_for,
    writable_warehouse,
)
from toko.services.inventory.mapping import movement_to_proto, stock_to_proto
from toko.services.inventory.repository.skus import SkuRepository
from toko.services.inventory.repository.stock import Movement, StockRepository

MOVEMENT_PAGES = PageSpec(default=50, maximum=200)


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


async def receive_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Book goods received into a warehouse."""
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.ReceiveStock",
        kind=MovementKind.RECEIPT,
    )


async def return_to_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Put returned goods back on hand."""
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.ReturnToStock",
        kind=MovementKind.RETURN_TO_STOCK,
    )


async def adjust_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Correct the quantity on hand by a signed delta, with the reason the books require."""
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.AdjustStock",
        kind=MovementKind.ADJUSTMENT,
    )


async def write_off_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal, idempotency_key: str = ""
) -> pb.StockLevel:
    """Remove damaged, lost or expired units from what is available."""
    return await _single_movement(
        inventory,
        change,
        principal,
        idempotency_key,
        operation="inventory.WriteOffStock",
        kind=MovementKind.WRITE_OFF,
    )


async def count_stock(
    *, inventory: Inventory, change: StockChange, principal: Principal
) -> tuple[pb.StockLevel, int]:
    """Record a stock count: the difference to the books is posted as an adjustment (idempotent by nature).

    A perishable SKU is counted lot by lot: the count sets the named lot's units on hand, and the
    difference is an adjustment of that lot.
    """
    count = ruled(
        partial(
            domain.stock_count,
            counted=change.quantity,
            reason=change.reason,
            lot_code=change.lot_code,
            expiry_date=change.expiry_date,
        ),
        also=_line_ids(change.warehouse_id, change.sku_id),
    )
    sku_id, warehouse_id = change.sku_id, change.warehouse_id
    async with inventory.database.unit_of_work(SOURCE) as uow:
        stock = StockRepository(uow.session)
        warehouse = await writable_warehouse(uow.session, warehouse_id, principal)
        line = await stock_line_for(uow.session, warehouse, sku_id, create=True)
        # Locked so that the difference is taken against the very quantity it is applied to.
        line = await stock.lock_line(line.id)
        difference = count.counted - line.on_hand
        lots: tuple[domain.LotDelta, ...] = ()
        if await SkuRepository(uow.session).is_perishable(sku_id):
            if count.lot is None:
                raise InvalidArgument.field(
                    "lot_code",
                    "the SKU is perishable: count it lot by lot, naming the lot_code and expiry_date",
                    ErrorCode.LOT_REQUIRED,
                )
            with rules():
                lot = domain.lot_count_delta(
                    await stock.lots(line.id), *count.lot, count.counted, inventory.clock().date()
                )
            difference, lots = lot.on_hand_delta, (lot,)
        if difference == 0:
            return stock_to_proto(line), 0
        adjustment = Movement(
            line.id, MovementKind.ADJUSTMENT, difference, 0, reason=count.reason or "stock count", lots=lots
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
    ruled(
        partial(domain.check_stock_policy, safety_stock=safety_stock, reorder_point=reorder_point),
        also=_line_ids(warehouse_id, sku_id),
    )
    async with inventory.database.unit_of_work(SOURCE) as uow:
        stock = StockRepository(uow.session)
        warehouse = await writable_warehouse(uow.session, warehouse_id, principal)
        line = await stock_line_for(uow.session, warehouse, sku_id, create=True)
        row = await stock.set_policy(line.id, safety_stock=safety_stock, reorder_point=reorder_point)
        await uow.commit()
    return stock_to_proto(row)


async def set_sku_perishable(
    *, inventory: Inventory, sku_id: str, shop_id: str, perishable: bool, principal: Principal
) -> bool:
    """Keep a SKU's stock in lots with expiry dates (or not); only while the SKU holds no units."""
    sku_id = require_id(sku_id, "sku_id")
    async with inventory.database.unit_of_work(SOURCE) as uow:
        skus = SkuRepository(uow.session)
        facts = await skus.sku_facts([sku_id])
        owner = facts[sku_id][0] if sku_id in facts else require_id(shop_id, "shop_id")
        authorize_shop(principal, owner)
        if await skus.set_perishable(sku_id=sku_id, shop_id=owner, perishable=perishable):
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
    quantity = ruled(
        partial(
            domain.transfer_quantity,
            from_warehouse_id=command.from_warehouse_id,
            to_warehouse_id=command.to_warehouse_id,
            quantity=command.quantity,
        ),
        also=id_violations(
            ("sku_id", command.sku_id),
            ("from_warehouse_id", command.from_warehouse_id),
            ("to_warehouse_id", command.to_warehouse_id),
        ),
    )
    sku_id, source_id, target_id = command.sku_id, command.from_warehouse_id, command.to_warehouse_id
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
            stock = StockRepository(uow.session)
            source = await writable_warehouse(uow.session, source_id, principal)
            target = await writable_warehouse(uow.session, target_id, principal)
            source_line = await stock_line_for(uow.session, source, sku_id, create=False)
            target_line = await stock_line_for(uow.session, target, sku_id, create=True)
            transfer_id = new_id()
            out_lots: tuple[domain.LotDelta, ...] = ()
            if await SkuRepository(uow.session).is_perishable(sku_id):
                # The lots leave first-expired-first-out and arrive as they are, expiry dates and all.
                for stock_id in sorted((source_line.id, target_line.id)):
                    await stock.lock_line(stock_id)
                try:
                    out_lots = tuple(
                        domain.plan_lot_deltas(
                            await stock.lots(source_line.id), -quantity, 0, inventory.clock().date()
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
        stock = StockRepository(session)
        facts = await SkuRepository(session).sku_facts([sku_id])
        levels = await stock.stock_of_sku(sku_id)
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
    require_ids(("warehouse_id", warehouse_id), ("sku_id", sku_id))
    size = MOVEMENT_PAGES.size(page_size)
    filters = [warehouse_id, sku_id]
    before = id_after(page_token, filters)
    async with inventory.database.sessions() as session:
        stock = StockRepository(session)
        await writable_warehouse(session, warehouse_id, principal)
        line = await stock.stock_line(sku_id=sku_id, warehouse_id=warehouse_id)
        if line is None:
            raise NotFound(
                ErrorCode.SKU_NOT_STOCKED, f"warehouse {warehouse_id} has no stock of SKU {sku_id}"
            )
        found = await stock.movements(line.id, before=before, limit=size + 1)
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
) -> pb.StockLevel:
    checked = ruled(
        partial(
            domain.stock_change,
            kind,
            quantity=change.quantity,
            today=inventory.clock().date(),
            reference=change.reference,
            reason=change.reason,
            lot_code=change.lot_code,
            expiry_date=change.expiry_date,
        ),
        also=_line_ids(change.warehouse_id, change.sku_id),
    )
    sku_id, warehouse_id = change.sku_id, change.warehouse_id
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session, operation=operation, caller=principal.subject, key=idempotency_key, command=change
        ) as replay:
            if replay.stored is not None:
                return pb.StockLevel.FromString(replay.stored)
            if kind is MovementKind.RETURN_TO_STOCK and "service" in principal.roles:
                warehouse = await existing_warehouse(uow.session, warehouse_id)
            else:
                warehouse = await writable_warehouse(uow.session, warehouse_id, principal)
            line = await stock_line_for(uow.session, warehouse, sku_id, create=checked.on_hand_delta > 0)
            movement = Movement(
                line.id,
                kind,
                checked.on_hand_delta,
                0,
                reference=checked.reference,
                reason=checked.reason,
                lots=checked.lots,
            )
            moved = await move_stock(uow, [movement], principal)
            replay.response = stock_to_proto(moved[0].row)
        await uow.commit()
    level: pb.StockLevel = replay.response
    return level


def _line_ids(warehouse_id: str, sku_id: str) -> list[Violation]:
    """The violations of the ids naming a stock line: its SKU's and its warehouse's."""
    return id_violations(("sku_id", sku_id), ("warehouse_id", warehouse_id))
