"""Conversions between the inventory's rows and domain values and its protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money
from toko.inventory.v1 import inventory_pb2 as pb
from toko.services.inventory.domain import (
    Lot,
    MovementKind,
    PurchaseOrderStatus,
    ReservationStatus,
    WarehouseKind,
)
from toko.services.inventory.repository.common import StockRow

KIND_TO_PROTO = {
    WarehouseKind.SHOP: pb.WAREHOUSE_KIND_SHOP,
    WarehouseKind.FULFILMENT_CENTRE: pb.WAREHOUSE_KIND_FULFILMENT_CENTRE,
}
MOVEMENT_TO_PROTO = {kind: pb.MovementKind.Value(f"MOVEMENT_KIND_{kind.name}") for kind in MovementKind}
RESERVATION_STATUS_TO_PROTO = {
    status: pb.ReservationStatus.Value(f"RESERVATION_STATUS_{status.name}") for status in ReservationStatus
}
PO_STATUS_TO_PROTO = {
    status: pb.PurchaseOrderStatus.Value(f"PURCHASE_ORDER_STATUS_{status.name}")
    for status in PurchaseOrderStatus
}


def kind_from_proto(number: int) -> WarehouseKind | None:
    """The warehouse kind (a shop warehouse when unspecified), or None when unknown."""
    if number == pb.WAREHOUSE_KIND_UNSPECIFIED:
        return WarehouseKind.SHOP
    return next((kind for kind, n in KIND_TO_PROTO.items() if n == number), None)


def timestamp(value: datetime | None) -> Timestamp | None:
    """A timestamp on the wire, None for None."""
    if value is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def from_timestamp(stamp: Timestamp) -> datetime:
    """A timezone-aware UTC datetime."""
    return stamp.ToDatetime(tzinfo=UTC)


def warehouse_to_proto(row: Any) -> pb.Warehouse:
    """A warehouse row on the wire."""
    return pb.Warehouse(
        id=str(row.id),
        shop_id=str(row.shop_id) if row.shop_id else "",
        name=row.name,
        address=row.address,
        city=row.city,
        kind=KIND_TO_PROTO[WarehouseKind(row.kind)],
        create_time=timestamp(row.created_at),
    )


def stock_to_proto(row: StockRow) -> pb.StockLevel:
    """A stock line on the wire."""
    return pb.StockLevel(
        sku_id=row.sku_id,
        warehouse_id=row.warehouse_id,
        shop_id=row.shop_id,
        on_hand=row.on_hand,
        reserved=row.reserved,
        available=row.available,
        safety_stock=row.safety_stock,
        reorder_point=row.reorder_point,
    )


def lot_to_proto(lot: Lot, today: date) -> pb.StockLot:
    """A lot of a stock line on the wire, expired or not as of ``today``."""
    return pb.StockLot(
        lot_code=lot.code,
        expiry_date=lot.expires_on.isoformat(),
        on_hand=lot.on_hand,
        reserved=lot.reserved,
        available=lot.available,
        expired=lot.expired(today),
    )


def movement_to_proto(row: Any) -> pb.StockMovement:
    """A ledger row on the wire."""
    return pb.StockMovement(
        id=str(row.id),
        kind=MOVEMENT_TO_PROTO[MovementKind(row.kind)],
        sku_id=str(row.sku_id),
        warehouse_id=str(row.warehouse_id),
        on_hand_delta=row.on_hand_delta,
        reserved_delta=row.reserved_delta,
        reference=row.reference,
        reason=row.reason,
        actor=row.actor,
        create_time=timestamp(row.created_at),
    )


def reservation_to_proto(row: Any, allocations: Iterable[Any]) -> pb.Reservation:
    """A reservation row and its allocation rows on the wire."""
    return pb.Reservation(
        id=str(row.id),
        reference=row.reference,
        status=RESERVATION_STATUS_TO_PROTO[ReservationStatus(row.status)],
        # A flash-sale line is stored with its claim: [sku, quantity, claim id].
        lines=[
            pb.ReservationLine(
                sku_id=line[0], quantity=line[1], flash_sale_claim_id=line[2] if len(line) > 2 else ""
            )
            for line in row.lines
        ],
        allocations=[
            pb.Allocation(sku_id=str(a.sku_id), warehouse_id=str(a.warehouse_id), quantity=a.quantity)
            for a in allocations
        ],
        expire_time=timestamp(row.expires_at),
        create_time=timestamp(row.created_at),
    )


def claim_to_proto(row: Any) -> pb.FlashSaleClaim:
    """A flash-sale claim row (with its allocation's campaign and SKU) on the wire."""
    return pb.FlashSaleClaim(
        id=str(row.id),
        campaign_id=str(row.campaign_id),
        sku_id=str(row.sku_id),
        quantity=row.quantity,
        expire_time=timestamp(row.expires_at),
    )


def allocation_to_proto(row: Any) -> pb.FlashSaleAllocation:
    """A flash-sale allocation row on the wire."""
    return pb.FlashSaleAllocation(
        id=str(row.id),
        campaign_id=str(row.campaign_id),
        sku_id=str(row.sku_id),
        warehouse_id=str(row.warehouse_id),
        shop_id=str(row.shop_id),
        quota=row.quota,
        per_buyer_limit=row.per_buyer_limit,
        start_time=timestamp(row.starts_at),
        end_time=timestamp(row.ends_at),
        claimed=row.claimed,
        remaining=row.quota - row.claimed,
    )


def supplier_to_proto(row: Any) -> pb.Supplier:
    """A supplier row on the wire."""
    return pb.Supplier(
        id=str(row.id),
        shop_id=str(row.shop_id),
        name=row.name,
        contact_name=row.contact_name,
        contact_email=row.contact_email,
        contact_phone=row.contact_phone,
        payment_terms_days=row.payment_terms_days,
        lead_time_days=row.lead_time_days,
    )


def supplier_item_to_proto(row: Any) -> pb.SupplierItem:
    """A supplier catalogue row on the wire."""
    return pb.SupplierItem(
        sku_id=str(row.sku_id),
        supplier_sku=row.supplier_sku,
        cost_price=Money(amount=row.cost_amount, currency=row.currency),
        min_order_quantity=row.min_order_quantity,
    )


def purchase_order_to_proto(row: Any, lines: Iterable[Any]) -> pb.PurchaseOrder:
    """A purchase order row and its line rows on the wire."""
    return pb.PurchaseOrder(
        id=str(row.id),
        shop_id=str(row.shop_id),
        supplier_id=str(row.supplier_id),
        warehouse_id=str(row.warehouse_id),
        status=PO_STATUS_TO_PROTO[PurchaseOrderStatus(row.status)],
        lines=[
            pb.PurchaseOrderLine(
                sku_id=str(line.sku_id),
                quantity=line.quantity,
                unit_cost=Money(amount=line.unit_cost, currency=line.currency),
                accepted=line.accepted,
                rejected=line.rejected,
            )
            for line in lines
        ],
        create_time=timestamp(row.created_at),
        submit_time=timestamp(row.submitted_at),
        expected_time=timestamp(row.expected_at),
    )
