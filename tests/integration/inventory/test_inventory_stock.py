"""Warehouses and stock movements through the real gRPC server: every movement in the ledger, bad input refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import nats
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from inventory_testkit import (
    Stub,
    admin,
    as_,
    failure,
    invariant_breaches,
    new_id,
    new_warehouse,
    receive,
    seller,
    service,
    stocked_sku,
)
from sqlalchemy import select, text

from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database
from toko.platform.demo import SHOPS, demo_sku_id
from toko.platform.events import PendingEvent
from toko.platform.outbox import ensure_streams
from toko.product.v1 import events_pb2 as product_events
from toko.product.v1 import product_pb2
from toko.services.inventory.demo import demo_initial_stock, demo_warehouse_id
from toko.services.inventory.repository.tables import stock_ledger

INVALID = grpc.StatusCode.INVALID_ARGUMENT
FAILED = grpc.StatusCode.FAILED_PRECONDITION


async def ledger_kinds(database: Database, sku_id: str) -> list[tuple[str, int, int]]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(stock_ledger.c.kind, stock_ledger.c.on_hand_delta, stock_ledger.c.reserved_delta)
            .where(stock_ledger.c.sku_id == sku_id)
            .order_by(stock_ledger.c.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def events_about(database: Database, sku_id: str) -> list[str]:
    async with database.sessions() as session:
        rows = await session.execute(
            text("SELECT type FROM outbox WHERE aggregate = :sku ORDER BY created_at, id"), {"sku": sku_id}
        )
        return [row.type.rsplit(".", 1)[-1] for row in rows]


async def test_every_movement_is_a_ledger_row_and_on_hand_is_their_sum(
    stub: Stub, database: Database
) -> None:
    shop_id, source, sku_id = await stocked_sku(stub, 10)
    target = await new_warehouse(stub, shop_id, "Surabaya")
    as_seller = as_(seller(shop_id))

    await stub.AdjustStock(
        pb.AdjustStockRequest(warehouse_id=source, sku_id=sku_id, delta=-2, reason="rusak di rak"),
        metadata=as_seller,
    )
    await stub.WriteOffStock(
        pb.WriteOffStockRequest(warehouse_id=source, sku_id=sku_id, quantity=1, reason="kedaluwarsa"),
        metadata=as_seller,
    )
    moved = await stub.TransferStock(
        pb.TransferStockRequest(sku_id=sku_id, from_warehouse_id=source, to_warehouse_id=target, quantity=3),
        metadata=as_seller,
    )
    await stub.ReturnToStock(
        pb.ReturnToStockRequest(warehouse_id=target, sku_id=sku_id, quantity=1, reference="RMA-9"),
        metadata=as_(service()),
    )
    counted = await stub.CountStock(
        pb.CountStockRequest(warehouse_id=source, sku_id=sku_id, counted=5), metadata=as_seller
    )
    history = await stub.ListStockMovements(
        pb.ListStockMovementsRequest(warehouse_id=source, sku_id=sku_id, page_size=2), metadata=as_seller
    )

    assert (moved.source.on_hand, moved.destination.on_hand) == (4, 3)
    assert (counted.difference, counted.stock.on_hand) == (1, 5)
    assert await ledger_kinds(database, sku_id) == [
        ("receipt", 10, 0),
        ("adjustment", -2, 0),
        ("write_off", -1, 0),
        ("transfer_out", -3, 0),
        ("transfer_in", 3, 0),
        ("return_to_stock", 1, 0),
        ("adjustment", 1, 0),
    ]
    assert [m.kind for m in history.movements] == [pb.MOVEMENT_KIND_ADJUSTMENT, pb.MOVEMENT_KIND_TRANSFER_OUT]
    assert history.next_page_token
    assert await invariant_breaches(database) == []


async def test_the_ledger_cannot_be_edited(stub: Stub, database: Database) -> None:
    _, _, sku_id = await stocked_sku(stub, 3)

    async with database.sessions() as session:
        with pytest.raises(Exception, match="append-only"):
            await session.execute(
                text("UPDATE stock_ledger SET on_hand_delta = 99 WHERE sku_id = :s"), {"s": sku_id}
            )


async def test_bad_movements_get_clear_reasons_and_change_nothing(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await stocked_sku(stub, 5)
    as_seller = as_(seller(shop_id))

    no_reason = await failure(
        stub.AdjustStock(
            pb.AdjustStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, delta=3), metadata=as_seller
        )
    )
    zero = await failure(
        stub.AdjustStock(
            pb.AdjustStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, delta=0, reason="x"),
            metadata=as_seller,
        )
    )
    negative = await failure(
        stub.ReceiveStock(
            pb.ReceiveStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=-4), metadata=as_seller
        )
    )
    same = await failure(
        stub.TransferStock(
            pb.TransferStockRequest(
                sku_id=sku_id, from_warehouse_id=warehouse_id, to_warehouse_id=warehouse_id, quantity=1
            ),
            metadata=as_seller,
        )
    )
    too_many = await failure(
        stub.WriteOffStock(
            pb.WriteOffStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=6, reason="hilang"),
            metadata=as_seller,
        )
    )
    below_zero = await failure(
        stub.AdjustStock(
            pb.AdjustStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, delta=-6, reason="salah hitung"),
            metadata=as_seller,
        )
    )
    others = await failure(
        stub.ReceiveStock(
            pb.ReceiveStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=1),
            metadata=as_(seller(new_id())),
        )
    )
    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_seller)

    assert no_reason == (INVALID, "ADJUSTMENT_REASON_REQUIRED", ["reason"])
    assert zero[:2] == (INVALID, "INVALID_QUANTITY")
    assert negative == (INVALID, "INVALID_QUANTITY", ["quantity"])
    assert same == (INVALID, "SAME_WAREHOUSE_TRANSFER", ["to_warehouse_id"])
    assert too_many[:2] == below_zero[:2] == (FAILED, "INSUFFICIENT_STOCK")
    assert others[:2] == (grpc.StatusCode.NOT_FOUND, "WAREHOUSE_NOT_FOUND")
    assert (stock.on_hand, stock.available) == (5, 5)
    assert await ledger_kinds(database, sku_id) == [("receipt", 5, 0)]


async def test_a_retried_receipt_with_an_idempotency_key_is_booked_once(stub: Stub) -> None:
    shop_id, warehouse_id, sku_id = await stocked_sku(stub, 1)
    metadata = (*as_(seller(shop_id)), ("idempotency-key", "receipt-77"))
    request = pb.ReceiveStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=4, reference="DN-77")

    first = await stub.ReceiveStock(request, metadata=metadata)
    again = await stub.ReceiveStock(request, metadata=metadata)

    assert first == again
    assert first.stock.on_hand == 5


async def test_retried_purchasing_writes_with_an_idempotency_key_happen_once(
    stub: Stub, database: Database
) -> None:
    # A supplier, an order and a partial goods receipt, each sent twice with its key, as a client whose
    # first answer was lost would: one supplier, one order, and the received units on hand once.
    shop_id, warehouse_id, sku_id = await stocked_sku(stub, 1)
    as_seller = as_(seller(shop_id))

    def keyed(key: str) -> tuple[tuple[str, str], ...]:
        return (*as_seller, ("idempotency-key", key))

    new_supplier = pb.CreateSupplierRequest(shop_id=shop_id, name="PT Kain Jaya", lead_time_days=3)
    supplier = await stub.CreateSupplier(new_supplier, metadata=keyed("supplier-1"))
    supplier_again = await stub.CreateSupplier(new_supplier, metadata=keyed("supplier-1"))
    new_order = pb.CreatePurchaseOrderRequest(
        supplier_id=supplier.supplier.id,
        warehouse_id=warehouse_id,
        lines=[pb.PurchaseOrderLine(sku_id=sku_id, quantity=10, unit_cost={"amount": 9_000})],
    )
    order = await stub.CreatePurchaseOrder(new_order, metadata=keyed("order-1"))
    order_again = await stub.CreatePurchaseOrder(new_order, metadata=keyed("order-1"))
    submit = pb.SubmitPurchaseOrderRequest(id=order.purchase_order.id)
    submitted = await stub.SubmitPurchaseOrder(submit, metadata=as_seller)
    submitted_again = await stub.SubmitPurchaseOrder(submit, metadata=as_seller)
    receipt = pb.ReceivePurchaseOrderRequest(
        id=order.purchase_order.id, lines=[pb.ReceiptLine(sku_id=sku_id, accepted=4)]
    )
    received = await stub.ReceivePurchaseOrder(receipt, metadata=keyed("receipt-1"))
    received_again = await stub.ReceivePurchaseOrder(receipt, metadata=keyed("receipt-1"))
    reused = await failure(
        stub.ReceivePurchaseOrder(
            pb.ReceivePurchaseOrderRequest(
                id=order.purchase_order.id, lines=[pb.ReceiptLine(sku_id=sku_id, accepted=5)]
            ),
            metadata=keyed("receipt-1"),
        )
    )
    suppliers = await stub.ListSuppliers(pb.ListSuppliersRequest(shop_id=shop_id), metadata=as_seller)
    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_seller)

    assert supplier_again == supplier
    assert [s.id for s in suppliers.suppliers] == [supplier.supplier.id]
    assert order_again == order
    assert submitted_again == submitted  # submitting a submitted order changes nothing, not even its dates
    assert received_again == received
    assert received.purchase_order.lines[0].accepted == 4
    assert reused[:2] == (FAILED, "IDEMPOTENCY_KEY_REUSED")
    assert stock.on_hand == 1 + 4
    assert await ledger_kinds(database, sku_id) == [("receipt", 1, 0), ("receipt", 4, 0)]


async def test_availability_and_low_stock_events_fire_only_on_change(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await stocked_sku(stub, 8)
    as_seller = as_(seller(shop_id))
    await stub.SetStockPolicy(
        pb.SetStockPolicyRequest(warehouse_id=warehouse_id, sku_id=sku_id, reorder_point=3),
        metadata=as_seller,
    )

    await receive(stub, shop_id, warehouse_id, sku_id, 2)  # 10: still "6-20"
    for quantity in (4, 2):  # 6, then 4: "1-5" and at the reorder point
        await stub.WriteOffStock(
            pb.WriteOffStockRequest(
                warehouse_id=warehouse_id, sku_id=sku_id, quantity=quantity, reason="rusak"
            ),
            metadata=as_seller,
        )
    await stub.WriteOffStock(
        pb.WriteOffStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=1, reason="rusak"),
        metadata=as_seller,
    )  # 3: low already, no second LowStock

    assert await events_about(database, sku_id) == [
        "StockAvailabilityChanged",  # 0 -> 8
        "StockAvailabilityChanged",  # 6 -> 4
        "LowStock",
    ]


async def test_warehouses_belong_to_their_shop_and_fulfilment_centres_to_admins(stub: Stub) -> None:
    shop_id = new_id()
    mine = await new_warehouse(stub, shop_id, "Medan", name="Gudang Medan")
    centre = await stub.CreateWarehouse(
        pb.CreateWarehouseRequest(
            name="FC Cikarang", city="Bekasi", kind=pb.WAREHOUSE_KIND_FULFILMENT_CENTRE
        ),
        metadata=as_(admin()),
    )
    seller_centre = await failure(
        stub.CreateWarehouse(
            pb.CreateWarehouseRequest(
                name="FC Palsu", city="Bekasi", kind=pb.WAREHOUSE_KIND_FULFILMENT_CENTRE
            ),
            metadata=as_(seller(shop_id)),
        )
    )
    renamed = await stub.UpdateWarehouse(
        pb.UpdateWarehouseRequest(
            warehouse=pb.Warehouse(id=mine, name="Gudang Medan Baru"), update_mask=FieldMask(paths=["name"])
        ),
        metadata=as_(seller(shop_id)),
    )
    listed = await stub.ListWarehouses(
        pb.ListWarehousesRequest(shop_id=shop_id), metadata=as_(seller(shop_id))
    )
    hidden = await failure(stub.GetWarehouse(pb.GetWarehouseRequest(id=mine), metadata=as_(seller(new_id()))))
    nameless = await failure(
        stub.CreateWarehouse(
            pb.CreateWarehouseRequest(shop_id=shop_id, name=" ", city="Medan"), metadata=as_(seller(shop_id))
        )
    )

    assert centre.warehouse.kind == pb.WAREHOUSE_KIND_FULFILMENT_CENTRE
    assert centre.warehouse.shop_id == ""
    assert seller_centre[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert renamed.warehouse.name == "Gudang Medan Baru"
    assert [w.id for w in listed.warehouses] == [mine]
    assert hidden[:2] == (grpc.StatusCode.NOT_FOUND, "WAREHOUSE_NOT_FOUND")
    assert nameless == (INVALID, "INVALID_WAREHOUSE_NAME", ["name"])


async def test_the_demo_seeds_skus_get_opening_stock_and_a_sellers_new_skus_start_empty(
    stub: Stub, infrastructure: InfraEndpoints, database: Database
) -> None:
    shop = SHOPS[0]
    seeded = product_pb2.Product(
        id=new_id(),
        shop_id=shop.id,
        skus=[
            product_pb2.Sku(id=demo_sku_id(shop.id, code), code=code) for code in ("SKU9990-01", "SKU9990-02")
        ],
    )
    # A seller's product in the same demo shop, even with a code like the seed's: ids come from new_id.
    added_later = product_pb2.Product(
        id=new_id(), shop_id=shop.id, skus=[product_pb2.Sku(id=new_id(), code="SKU9991-01")]
    )
    other = product_pb2.Product(id=new_id(), shop_id=new_id(), skus=[product_pb2.Sku(id=new_id(), code="C")])
    connection = await nats.connect(infrastructure.nats_url)
    try:
        js = connection.jetstream()
        await ensure_streams(js, ["product"])
        # The seed's product last: once it is stocked, the consumer has handled the others too.
        for message in (added_later, other, seeded):
            event = PendingEvent(
                source="product", subject=message.id, message=product_events.ProductCreated(product=message)
            )
            await js.publish(
                event.nats_subject, event.envelope().SerializeToString(), headers={"Nats-Msg-Id": event.id}
            )
    finally:
        await connection.drain()

    expected = {sku.id: demo_initial_stock(sku.id) for sku in seeded.skus}
    levels: dict[str, int] = {}
    for _ in range(150):  # the consumer waits for the stream and fetches every second; allow a loaded machine
        levels = {}
        for sku_id in expected:
            try:
                reply = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(admin()))
            except grpc.aio.AioRpcError:
                break
            levels[sku_id] = reply.on_hand
        if levels == expected:
            break
        await asyncio.sleep(0.1)
    unstocked = [
        await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=product.skus[0].id), metadata=as_(admin()))
        for product in (added_later, other)
    ]
    warehouse = await stub.GetWarehouse(
        pb.GetWarehouseRequest(id=demo_warehouse_id(shop.id)), metadata=as_(admin())
    )

    assert levels == expected
    assert all(20 <= units <= 200 for units in levels.values())
    assert [(reply.on_hand, len(reply.levels)) for reply in unstocked] == [(0, 0), (0, 0)]
    assert warehouse.warehouse.city == shop.city
    assert await invariant_breaches(database) == []


def _stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def test_purchase_orders_from_draft_to_received_post_receipts(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await stocked_sku(stub, 1)
    as_seller = as_(seller(shop_id))
    supplier = (
        await stub.CreateSupplier(
            pb.CreateSupplierRequest(
                shop_id=shop_id, name="PT Sumber Kain", lead_time_days=7, payment_terms_days=30
            ),
            metadata=as_seller,
        )
    ).supplier
    await stub.SetSupplierItem(
        pb.SetSupplierItemRequest(
            supplier_id=supplier.id,
            item=pb.SupplierItem(
                sku_id=sku_id, supplier_sku="SK-1", cost_price={"amount": 12_000}, min_order_quantity=10
            ),
        ),
        metadata=as_seller,
    )
    order = (
        await stub.CreatePurchaseOrder(
            pb.CreatePurchaseOrderRequest(
                supplier_id=supplier.id,
                warehouse_id=warehouse_id,
                lines=[pb.PurchaseOrderLine(sku_id=sku_id, quantity=10)],
            ),
            metadata=as_seller,
        )
    ).purchase_order
    early = await failure(
        stub.ReceivePurchaseOrder(
            pb.ReceivePurchaseOrderRequest(id=order.id, lines=[pb.ReceiptLine(sku_id=sku_id, accepted=1)]),
            metadata=as_seller,
        )
    )
    await stub.SubmitPurchaseOrder(pb.SubmitPurchaseOrderRequest(id=order.id), metadata=as_seller)
    partial = (
        await stub.ReceivePurchaseOrder(
            pb.ReceivePurchaseOrderRequest(
                id=order.id, lines=[pb.ReceiptLine(sku_id=sku_id, accepted=6, rejected=1)]
            ),
            metadata=as_seller,
        )
    ).purchase_order
    over = await failure(
        stub.ReceivePurchaseOrder(
            pb.ReceivePurchaseOrderRequest(id=order.id, lines=[pb.ReceiptLine(sku_id=sku_id, accepted=4)]),
            metadata=as_seller,
        )
    )
    done = (
        await stub.ReceivePurchaseOrder(
            pb.ReceivePurchaseOrderRequest(id=order.id, lines=[pb.ReceiptLine(sku_id=sku_id, accepted=3)]),
            metadata=as_seller,
        )
    ).purchase_order
    cancel = await failure(
        stub.CancelPurchaseOrder(pb.CancelPurchaseOrderRequest(id=order.id), metadata=as_seller)
    )
    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_seller)
    now = datetime.now(UTC)
    performance = await stub.GetSupplierPerformance(
        pb.GetSupplierPerformanceRequest(
            supplier_id=supplier.id,
            start_time=_stamp(now - timedelta(days=1)),
            end_time=_stamp(now + timedelta(days=1)),
        ),
        metadata=as_seller,
    )

    assert order.status == pb.PURCHASE_ORDER_STATUS_DRAFT
    assert order.lines[0].unit_cost.amount == 12_000
    assert early[:2] == (FAILED, "INVALID_PO_TRANSITION")
    assert partial.status == pb.PURCHASE_ORDER_STATUS_PARTIALLY_RECEIVED
    assert over[:2] == (INVALID, "OVER_RECEIPT")
    assert done.status == pb.PURCHASE_ORDER_STATUS_RECEIVED
    assert cancel[:2] == (FAILED, "INVALID_PO_TRANSITION")
    assert stock.on_hand == 1 + 6 + 3
    assert performance.purchase_orders == 1
    assert performance.on_time_rate == 1.0
    assert performance.fill_rate == pytest.approx(0.9)
    assert performance.rejection_rate == pytest.approx(0.1)
    assert performance.promised_lead_time_days == 7
    assert await invariant_breaches(database) == []


async def test_reorder_suggestions_follow_sales_lead_time_and_moq(stub: Stub) -> None:
    shop_id, warehouse_id, sku_id = await stocked_sku(stub, 40)
    as_seller = as_(seller(shop_id))
    supplier = (
        await stub.CreateSupplier(
            pb.CreateSupplierRequest(shop_id=shop_id, name="CV Grosir", lead_time_days=5), metadata=as_seller
        )
    ).supplier
    await stub.SetSupplierItem(
        pb.SetSupplierItemRequest(
            supplier_id=supplier.id,
            item=pb.SupplierItem(
                sku_id=sku_id, supplier_sku="G-1", cost_price={"amount": 5_000}, min_order_quantity=50
            ),
        ),
        metadata=as_seller,
    )
    # 30 units sold in the last 30 days: 1 a day.
    for n in range(3):
        await stub.Reserve(
            pb.ReserveRequest(
                reference=f"ro-{sku_id}-{n}", lines=[pb.ReservationLine(sku_id=sku_id, quantity=10)]
            ),
            metadata=as_(service()),
        )
        await stub.CommitReservation(
            pb.CommitReservationRequest(reference=f"ro-{sku_id}-{n}"), metadata=as_(service())
        )
    await stub.SetStockPolicy(
        pb.SetStockPolicyRequest(warehouse_id=warehouse_id, sku_id=sku_id, safety_stock=2), metadata=as_seller
    )
    await stub.WriteOffStock(
        pb.WriteOffStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=5, reason="rusak"),
        metadata=as_seller,
    )

    reply = await stub.GetReorderSuggestions(
        pb.GetReorderSuggestionsRequest(warehouse_id=warehouse_id, demand_days=30), metadata=as_seller
    )

    (suggestion,) = reply.suggestions
    assert suggestion.average_daily_demand == 1.0
    assert suggestion.reorder_point == 1 * 5 + 2
    assert suggestion.available == 5
    # Up to the reorder point plus one more lead time of demand (12 - 5 = 7), then at least the MOQ.
    assert suggestion.suggested_quantity == 50
    assert suggestion.supplier_id == supplier.id


async def test_admin_sees_every_shops_stock(stub: Stub) -> None:
    _, _, sku_id = await stocked_sku(stub, 2)

    reply = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(admin()))

    assert reply.quantity_bucket == "1-5"


async def test_the_seed_gives_every_demo_shop_a_warehouse_once(stub: Stub, settings: Any) -> None:
    from toko.services.inventory.seed import seed

    first = await seed(settings)
    again = await seed(settings)
    listed = await stub.ListWarehouses(pb.ListWarehousesRequest(shop_id=SHOPS[1].id), metadata=as_(admin()))

    assert first == again == len(SHOPS)
    assert [w.id for w in listed.warehouses] == [demo_warehouse_id(SHOPS[1].id)]
