"""Purchasing: suppliers and their catalogues, purchase orders and goods
receipts, reorder suggestions and supplier performance. One transaction each.

A goods receipt posts a ``receipt`` ledger row per accepted line through the same
``move`` as every other movement, so on hand stays the ledger's sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.errors import InvalidArgument, NotFound
from toko.platform.idempotency import idempotent
from toko.platform.ids import new_id, require_id
from toko.platform.pagination import Page, PageSpec, encode_token, id_after
from toko.platform.validation import ruled
from toko.services.inventory import domain
from toko.services.inventory.domain import (
    MovementKind,
    OrderedLine,
    OrderLine,
    PurchaseOrderStatus,
    ReceivedLine,
)
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.handlers.common import (
    SOURCE,
    Inventory,
    authorize_shop,
    existing_warehouse,
    id_violations,
    move_stock,
    rules,
    stock_line_for,
    writable_warehouse,
)
from toko.services.inventory.mapping import (
    purchase_order_to_proto,
    supplier_item_to_proto,
    supplier_to_proto,
)
from toko.services.inventory.repository.purchasing import PurchasingRepository
from toko.services.inventory.repository.skus import SkuRepository
from toko.services.inventory.repository.stock import Movement, StockRepository

SUPPLIER_PAGES = PageSpec(default=50, maximum=100)


@dataclass(frozen=True)
class CreateSupplier:
    """Add a supplier of a shop."""

    shop_id: str
    name: str
    contact_name: str = ""
    contact_email: str = ""
    contact_phone: str = ""
    payment_terms_days: int = 0
    lead_time_days: int = 0


@dataclass(frozen=True)
class SupplierItem:
    """One line of a supplier's catalogue."""

    sku_id: str
    supplier_sku: str
    cost_amount: int
    currency: str
    min_order_quantity: int


async def create_supplier(
    *, inventory: Inventory, command: CreateSupplier, principal: Principal, idempotency_key: str = ""
) -> pb.Supplier:
    """Add a supplier to a shop."""
    # Whose supplier it is comes first: a caller who may not add one learns nothing of the fields' rules.
    shop_id = require_id(command.shop_id, "shop_id")
    authorize_shop(principal, shop_id)
    details = ruled(
        partial(
            domain.supplier_details,
            name=command.name,
            contact_name=command.contact_name,
            contact_email=command.contact_email,
            contact_phone=command.contact_phone,
            payment_terms_days=command.payment_terms_days,
            lead_time_days=command.lead_time_days,
        )
    )
    values = {"id": new_id(), "shop_id": shop_id, **asdict(details)}
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation="inventory.CreateSupplier",
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.Supplier.FromString(replay.stored)
            replay.response = supplier_to_proto(await PurchasingRepository(uow.session).add_supplier(values))
        await uow.commit()
    created: pb.Supplier = replay.response
    return created


async def list_suppliers(
    *, inventory: Inventory, shop_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[pb.Supplier]:
    """A shop's suppliers, oldest first."""
    shop = require_id(shop_id, "shop_id")
    authorize_shop(principal, shop)
    size = SUPPLIER_PAGES.size(page_size)
    after = id_after(page_token, [shop])
    async with inventory.database.sessions() as session:
        found = await PurchasingRepository(session).suppliers_of(shop, after=after, limit=size + 1)
    token = encode_token([str(found[size - 1].id)], [shop]) if len(found) > size else ""
    return Page([supplier_to_proto(row) for row in found[:size]], token)


async def set_supplier_item(
    *, inventory: Inventory, supplier_id: str, item: SupplierItem, principal: Principal
) -> pb.SupplierItem:
    """Add or change one line of a supplier's catalogue."""
    supplier_sku = ruled(
        partial(
            domain.supplier_sku,
            code=item.supplier_sku,
            cost_amount=item.cost_amount,
            currency=item.currency,
            min_order_quantity=item.min_order_quantity,
        ),
        also=id_violations(("supplier_id", supplier_id), ("item.sku_id", item.sku_id)),
    )
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = PurchasingRepository(uow.session)
        await _supplier(repository, supplier_id, principal)
        row = await repository.set_item(
            {
                "supplier_id": supplier_id,
                "sku_id": item.sku_id,
                "supplier_sku": supplier_sku,
                "cost_amount": item.cost_amount,
                "currency": domain.CURRENCY,
                "min_order_quantity": item.min_order_quantity,
            }
        )
        await uow.commit()
    return supplier_item_to_proto(row)


async def create_purchase_order(
    *,
    inventory: Inventory,
    supplier_id: str,
    warehouse_id: str,
    lines: Sequence[OrderLine],
    principal: Principal,
    idempotency_key: str = "",
) -> pb.PurchaseOrder:
    """Draft a purchase order into one of the supplier's shop's warehouses."""
    ruled(
        partial(domain.check_order_lines, lines),
        also=id_violations(
            ("supplier_id", supplier_id),
            ("warehouse_id", warehouse_id),
            *((f"lines[{index}].sku_id", line.sku_id) for index, line in enumerate(lines)),
        ),
    )
    command = (supplier_id, warehouse_id, list(lines))
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation="inventory.CreatePurchaseOrder",
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.PurchaseOrder.FromString(replay.stored)
            repository = PurchasingRepository(uow.session)
            supplier = await _supplier(repository, supplier_id, principal)
            warehouse = await writable_warehouse(uow.session, warehouse_id, principal)
            if warehouse.shop_id is None or str(warehouse.shop_id) != str(supplier.shop_id):
                raise InvalidArgument.field(
                    "warehouse_id",
                    "must be a warehouse of the supplier's shop",
                    ErrorCode.WAREHOUSE_NOT_FOUND,
                )
            catalogue = await repository.items(supplier_id, [line.sku_id for line in lines])
            purchase_order_id = new_id()
            rows = []
            for index, line in enumerate(lines):
                cost = line.unit_cost or (
                    catalogue[line.sku_id].cost_amount if line.sku_id in catalogue else 0
                )
                rows.append(
                    {
                        "purchase_order_id": purchase_order_id,
                        "sku_id": line.sku_id,
                        "position": index,
                        "quantity": line.quantity,
                        "unit_cost": cost,
                        "currency": domain.CURRENCY,
                        "accepted": 0,
                        "rejected": 0,
                    }
                )
            await repository.add_purchase_order(
                {
                    "id": purchase_order_id,
                    "shop_id": str(supplier.shop_id),
                    "supplier_id": supplier_id,
                    "warehouse_id": warehouse_id,
                    "status": PurchaseOrderStatus.DRAFT.value,
                },
                rows,
            )
            row = await repository.purchase_order(purchase_order_id)
            replay.response = purchase_order_to_proto(row, await repository.lines_of(purchase_order_id))
        await uow.commit()
    created: pb.PurchaseOrder = replay.response
    return created


async def get_purchase_order(
    *, inventory: Inventory, purchase_order_id: str, principal: Principal
) -> pb.PurchaseOrder:
    """A purchase order with its lines."""
    require_id(purchase_order_id, "id")
    async with inventory.database.sessions() as session:
        repository = PurchasingRepository(session)
        row = await _purchase_order(repository, purchase_order_id, principal)
        return purchase_order_to_proto(row, await repository.lines_of(purchase_order_id))


async def submit_purchase_order(
    *, inventory: Inventory, purchase_order_id: str, principal: Principal
) -> pb.PurchaseOrder:
    """Send a draft to the supplier; its expected delivery is now plus the supplier's lead time."""
    return await _transition(inventory, purchase_order_id, principal, PurchaseOrderStatus.SUBMITTED)


async def cancel_purchase_order(
    *, inventory: Inventory, purchase_order_id: str, principal: Principal
) -> pb.PurchaseOrder:
    """Call off a purchase order nothing has been received on."""
    return await _transition(inventory, purchase_order_id, principal, PurchaseOrderStatus.CANCELLED)


async def _transition(
    inventory: Inventory, purchase_order_id: str, principal: Principal, target: PurchaseOrderStatus
) -> pb.PurchaseOrder:
    require_id(purchase_order_id, "id")
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = PurchasingRepository(uow.session)
        row = await _purchase_order(repository, purchase_order_id, principal, for_update=True)
        if PurchaseOrderStatus(row.status) is target:
            # A retry of a transition that happened (its answer lost): answered as it stands, unchanged.
            return purchase_order_to_proto(row, await repository.lines_of(purchase_order_id))
        with rules():
            domain.po_transition(PurchaseOrderStatus(row.status), target)
        values: dict[str, Any] = {"status": target.value}
        if target is PurchaseOrderStatus.SUBMITTED:
            supplier = await _supplier(repository, str(row.supplier_id), principal)
            now = inventory.clock()
            values |= {"submitted_at": now, "expected_at": now + timedelta(days=supplier.lead_time_days)}
        updated = await repository.update_purchase_order(purchase_order_id, values)
        message = purchase_order_to_proto(updated, await repository.lines_of(purchase_order_id))
        await uow.commit()
    return message


async def receive_purchase_order(
    *,
    inventory: Inventory,
    purchase_order_id: str,
    receipt: Sequence[ReceivedLine],
    principal: Principal,
    idempotency_key: str = "",
) -> pb.PurchaseOrder:
    """Book a goods receipt: accepted units go on hand (a receipt ledger row each), rejected noted.

    Accepted units of a perishable SKU arrive in the lot the line names, which must not be past its date.
    A receipt retried with its idempotency key is booked once: a partial receipt sent twice would
    otherwise put its units on hand twice.
    """
    # The lots named, checked as ReceiveStock checks them.
    lots = ruled(
        partial(domain.receipt_lots, receipt, inventory.clock().date()),
        also=id_violations(("id", purchase_order_id)),
    )
    command = (purchase_order_id, list(receipt))
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation="inventory.ReceivePurchaseOrder",
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.PurchaseOrder.FromString(replay.stored)
            repository = PurchasingRepository(uow.session)
            row = await _purchase_order(repository, purchase_order_id, principal, for_update=True)
            lines = await repository.lines_of(purchase_order_id)
            ordered = [
                OrderedLine(str(line.sku_id), line.quantity, line.accepted, line.rejected) for line in lines
            ]
            with rules():
                status, _ = domain.apply_receipt(PurchaseOrderStatus(row.status), ordered, receipt)
            warehouse = await existing_warehouse(uow.session, str(row.warehouse_id))
            movements = []
            for index, got in enumerate(receipt):
                if not got.accepted:
                    continue
                lot = lots.get(index)
                if lot is None and await SkuRepository(uow.session).is_perishable(got.sku_id):
                    raise InvalidArgument.field(
                        f"lines[{index}].lot_code",
                        "the SKU is perishable: accepted units need a lot code and an expiry date",
                        ErrorCode.LOT_REQUIRED,
                    )
                line = await stock_line_for(uow.session, warehouse, got.sku_id, create=True)
                arriving = (domain.LotDelta(lot[0], lot[1], got.accepted, 0),) if lot else ()
                movements.append(
                    Movement(
                        line.id,
                        MovementKind.RECEIPT,
                        got.accepted,
                        0,
                        reference=purchase_order_id,
                        lots=arriving,
                    )
                )
            for got in receipt:
                await repository.add_received(purchase_order_id, got.sku_id, got.accepted, got.rejected)
            if movements:
                await move_stock(uow, movements, principal)
            await repository.add_receipt(
                {
                    "id": new_id(),
                    "purchase_order_id": purchase_order_id,
                    # Per line: SKU, accepted, rejected, and the lot code and expiry date when one was named.
                    "lines": [
                        [got.sku_id, got.accepted, got.rejected, *_lot_of(lots.get(index))]
                        for index, got in enumerate(receipt)
                    ],
                    "actor": principal.subject,
                }
            )
            values: dict[str, Any] = {"status": status.value}
            if status is PurchaseOrderStatus.RECEIVED:
                values["received_at"] = inventory.clock()
            updated = await repository.update_purchase_order(purchase_order_id, values)
            replay.response = purchase_order_to_proto(updated, await repository.lines_of(purchase_order_id))
        await uow.commit()
    received: pb.PurchaseOrder = replay.response
    return received


def _lot_of(lot: tuple[str, date] | None) -> list[str]:
    return [lot[0], lot[1].isoformat()] if lot else []


async def reorder_suggestions(
    *, inventory: Inventory, warehouse_id: str, demand_days: int, principal: Principal
) -> list[pb.ReorderSuggestion]:
    """Lines at or below their computed reorder point, with what to order from their cheapest supplier."""
    days = ruled(partial(domain.demand_days, demand_days), also=id_violations(("warehouse_id", warehouse_id)))
    async with inventory.database.sessions() as session:
        warehouse = await writable_warehouse(session, warehouse_id, principal)
        stock = StockRepository(session)
        lines = await stock.stock_of_warehouse(warehouse_id)
        sold = await stock.units_sold(warehouse_id, since=inventory.clock() - timedelta(days=days))
        offers = (
            await PurchasingRepository(session).cheapest_offers(
                str(warehouse.shop_id), [line.sku_id for line in lines]
            )
            if warehouse.shop_id
            else {}
        )
    suggestions = []
    for line in lines:
        demand = domain.average_daily_demand(sold.get(line.id, 0), days)
        offer = offers.get(line.sku_id)
        lead_time = int(offer.lead_time_days) if offer is not None else 0
        point = domain.reorder_point(demand, lead_time, line.safety_stock)
        quantity = domain.suggested_order(
            available=line.available,
            point=point,
            daily_demand=demand,
            lead_time_days=lead_time,
            min_order_quantity=int(offer.min_order_quantity) if offer is not None else 1,
        )
        if point == 0 or quantity == 0:
            continue
        suggestions.append(
            pb.ReorderSuggestion(
                sku_id=line.sku_id,
                available=line.available,
                average_daily_demand=float(demand),
                lead_time_days=lead_time,
                reorder_point=point,
                suggested_quantity=quantity,
                supplier_id=str(offer.supplier_id) if offer is not None else "",
            )
        )
    return suggestions


async def supplier_performance(
    *, inventory: Inventory, supplier_id: str, start: datetime, end: datetime, principal: Principal
) -> pb.GetSupplierPerformanceResponse:
    """On-time rate, fill rate, lead time against the promise and rejection rate over a period."""
    ruled(partial(domain.check_period, start, end), also=id_violations(("supplier_id", supplier_id)))
    async with inventory.database.sessions() as session:
        repository = PurchasingRepository(session)
        supplier = await _supplier(repository, supplier_id, principal)
        rows = await repository.delivered_orders(supplier_id, start=start, end=end)
    performance = domain.supplier_performance(
        [
            domain.DeliveredOrder(
                ordered=int(row.ordered),
                accepted=int(row.accepted),
                rejected=int(row.rejected),
                submitted_at=row.submitted_at,
                expected_at=row.expected_at,
                received_at=row.received_at,
            )
            for row in rows
            if row.status != PurchaseOrderStatus.CANCELLED.value
        ]
    )
    return pb.GetSupplierPerformanceResponse(
        purchase_orders=performance.purchase_orders,
        on_time_rate=performance.on_time_rate,
        fill_rate=performance.fill_rate,
        rejection_rate=performance.rejection_rate,
        average_lead_time_days=performance.average_lead_time_days,
        promised_lead_time_days=supplier.lead_time_days,
    )


async def _supplier(repository: PurchasingRepository, supplier_id: str, principal: Principal) -> Any:
    row = await repository.supplier(supplier_id)
    if row is None or not principal.manages(str(row.shop_id)):
        raise NotFound(ErrorCode.SUPPLIER_NOT_FOUND, f"no supplier {supplier_id}")
    return row


async def _purchase_order(
    repository: PurchasingRepository,
    purchase_order_id: str,
    principal: Principal,
    *,
    for_update: bool = False,
) -> Any:
    row = await repository.purchase_order(purchase_order_id, for_update=for_update)
    if row is None or not principal.manages(str(row.shop_id)):
        raise NotFound(ErrorCode.PURCHASE_ORDER_NOT_FOUND, f"no purchase order {purchase_order_id}")
    return row
