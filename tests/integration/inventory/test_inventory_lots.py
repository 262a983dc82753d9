"""Perishable SKUs: receipts and counts name their lot, stock is held and sold first-expired-first-out (expired
lots never), and a stock line's lots are listed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import grpc
from inventory_testkit import (
    Stub,
    admin,
    as_,
    buyer,
    failure,
    invariant_breaches,
    new_id,
    new_warehouse,
    seller,
    service,
    stocked_sku,
)
from sqlalchemy import text

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database
from toko.platform.pagination import encode_token

FAILED = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def _in_days(days: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()


async def _perishable(stub: Stub) -> tuple[str, str, str]:
    """A new shop with a warehouse and a perishable SKU of no stock yet: (shop, warehouse, sku)."""
    shop_id, sku_id = new_id(), new_id()
    warehouse_id = await new_warehouse(stub, shop_id)
    await stub.SetSkuPerishable(
        pb.SetSkuPerishableRequest(sku_id=sku_id, shop_id=shop_id, perishable=True),
        metadata=as_(seller(shop_id)),
    )
    return shop_id, warehouse_id, sku_id


async def _receive_lot(
    stub: Stub, shop_id: str, warehouse_id: str, sku_id: str, lot: str, days: int, units: int
) -> None:
    await stub.ReceiveStock(
        pb.ReceiveStockRequest(
            warehouse_id=warehouse_id,
            sku_id=sku_id,
            quantity=units,
            reference="DN-7",
            lot_code=lot,
            expiry_date=_in_days(days),
        ),
        metadata=as_(seller(shop_id)),
    )


async def _lots(database: Database, sku_id: str) -> dict[str, tuple[int, int]]:
    """Each lot of the SKU: (on hand, reserved)."""
    async with database.sessions() as session:
        rows = await session.execute(
            text("SELECT lot_code, on_hand, reserved FROM stock_lots WHERE sku_id = :sku"), {"sku": sku_id}
        )
        return {row.lot_code: (row.on_hand, row.reserved) for row in rows}


def _reserve(reference: str, sku_id: str, quantity: int) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        reference=reference, lines=[pb.ReservationLine(sku_id=sku_id, quantity=quantity)]
    )


async def test_receipts_of_a_perishable_sku_need_a_lot_that_has_not_expired(
    stub: Stub, database: Database
) -> None:
    shop_id, warehouse_id, sku_id = await _perishable(stub)
    as_seller = as_(seller(shop_id))

    def receipt(**lot: str) -> pb.ReceiveStockRequest:
        return pb.ReceiveStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=5, **lot)

    no_lot = await failure(stub.ReceiveStock(receipt(), metadata=as_seller))
    no_date = await failure(stub.ReceiveStock(receipt(lot_code="L1"), metadata=as_seller))
    expired = await failure(
        stub.ReceiveStock(receipt(lot_code="L1", expiry_date=_in_days(-1)), metadata=as_seller)
    )
    garbled = await failure(
        stub.ReceiveStock(receipt(lot_code="L1", expiry_date="besok"), metadata=as_seller)
    )
    no_lot_adjustment = await failure(
        stub.AdjustStock(
            pb.AdjustStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, delta=2, reason="opname"),
            metadata=as_seller,
        )
    )
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "L1", 0, 5)  # expiring today still sells today
    too_late = await failure(
        stub.SetSkuPerishable(pb.SetSkuPerishableRequest(sku_id=sku_id, perishable=False), metadata=as_seller)
    )

    assert no_lot == (INVALID, "LOT_REQUIRED", ["lot_code"])
    assert no_date == (INVALID, "LOT_REQUIRED", ["expiry_date"])
    assert expired == (INVALID, "LOT_EXPIRED", ["expiry_date"])
    assert garbled == (INVALID, "INVALID_LOT", ["expiry_date"])
    assert no_lot_adjustment[:2] == (INVALID, "LOT_REQUIRED")
    assert too_late[:2] == (FAILED, "PERISHABLE_CHANGE_WITH_STOCK")
    assert await _lots(database, sku_id) == {"L1": (5, 0)}
    assert await invariant_breaches(database) == []


async def test_reservations_and_sales_take_the_earliest_expiring_lots_first(
    stub: Stub, database: Database
) -> None:
    shop_id, warehouse_id, sku_id = await _perishable(stub)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "LATE", 30, 5)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "EARLY", 5, 3)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "MID", 10, 4)

    await stub.Reserve(_reserve("order-fefo-1", sku_id, 5), metadata=as_(service()))
    held = await _lots(database, sku_id)
    await stub.CommitReservation(
        pb.CommitReservationRequest(reference="order-fefo-1"), metadata=as_(service())
    )
    sold = await _lots(database, sku_id)
    await stub.WriteOffStock(
        pb.WriteOffStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=3, reason="rusak"),
        metadata=as_(seller(shop_id)),
    )
    written_off = await _lots(database, sku_id)

    assert held == {"EARLY": (3, 3), "MID": (4, 2), "LATE": (5, 0)}
    assert sold == {"EARLY": (0, 0), "MID": (2, 0), "LATE": (5, 0)}
    assert written_off == {"EARLY": (0, 0), "MID": (0, 0), "LATE": (4, 0)}
    assert await invariant_breaches(database) == []


async def test_expired_lots_are_not_sold_and_can_be_written_off(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await _perishable(stub)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "OLD", 3, 4)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "NEW", 20, 6)
    async with database.sessions() as session:  # time passes: the old lot is past its date
        await session.execute(
            text("UPDATE stock_lots SET expires_on = :day WHERE sku_id = :sku AND lot_code = 'OLD'"),
            {"day": datetime.now(UTC).date() - timedelta(days=1), "sku": sku_id},
        )
        await session.commit()

    too_much = await failure(stub.Reserve(_reserve("order-exp-1", sku_id, 7), metadata=as_(service())))
    untouched = await _lots(database, sku_id)
    await stub.Reserve(_reserve("order-exp-2", sku_id, 6), metadata=as_(service()))
    held = await _lots(database, sku_id)
    written = await stub.WriteOffExpiredLots(
        pb.WriteOffExpiredLotsRequest(warehouse_id=warehouse_id, sku_id=sku_id), metadata=as_(seller(shop_id))
    )
    again = await stub.WriteOffExpiredLots(
        pb.WriteOffExpiredLotsRequest(warehouse_id=warehouse_id, sku_id=sku_id), metadata=as_(seller(shop_id))
    )

    assert too_much[:2] == (FAILED, "INSUFFICIENT_STOCK")
    assert untouched == {"OLD": (4, 0), "NEW": (6, 0)}
    assert held == {"OLD": (4, 0), "NEW": (6, 6)}
    assert (written.written_off, written.stock.on_hand, written.stock.reserved) == (4, 6, 6)
    assert again.written_off == 0
    assert await _lots(database, sku_id) == {"OLD": (0, 0), "NEW": (6, 6)}
    assert await invariant_breaches(database) == []


async def test_a_transfer_carries_its_lots_with_their_dates(stub: Stub, database: Database) -> None:
    shop_id, source, sku_id = await _perishable(stub)
    target = await new_warehouse(stub, shop_id, "Medan", "Gudang Medan")
    await _receive_lot(stub, shop_id, source, sku_id, "A", 4, 2)
    await _receive_lot(stub, shop_id, source, sku_id, "B", 9, 5)

    await stub.TransferStock(
        pb.TransferStockRequest(sku_id=sku_id, from_warehouse_id=source, to_warehouse_id=target, quantity=3),
        metadata=as_(seller(shop_id)),
    )
    async with database.sessions() as session:
        rows = await session.execute(
            text("SELECT warehouse_id, lot_code, expires_on, on_hand FROM stock_lots WHERE sku_id = :sku"),
            {"sku": sku_id},
        )
        lots = {(str(r.warehouse_id), r.lot_code): (r.expires_on.isoformat(), r.on_hand) for r in rows}

    assert lots == {
        (source, "A"): (_in_days(4), 0),
        (source, "B"): (_in_days(9), 4),
        (target, "A"): (_in_days(4), 2),
        (target, "B"): (_in_days(9), 1),
    }
    assert await invariant_breaches(database) == []


async def _ledger(database: Database, sku_id: str) -> list[tuple[str, int, str]]:
    """The SKU's ledger rows: (kind, on hand delta, reason), oldest first."""
    async with database.sessions() as session:
        rows = await session.execute(
            text("SELECT kind, on_hand_delta, reason FROM stock_ledger WHERE sku_id = :sku ORDER BY id"),
            {"sku": sku_id},
        )
        return [(row.kind, row.on_hand_delta, row.reason) for row in rows]


async def _expire(database: Database, sku_id: str, lot: str) -> None:
    """Time passes: the lot is past its date (yesterday)."""
    async with database.sessions() as session:
        await session.execute(
            text("UPDATE stock_lots SET expires_on = :day WHERE sku_id = :sku AND lot_code = :lot"),
            {"day": datetime.now(UTC).date() - timedelta(days=1), "sku": sku_id, "lot": lot},
        )
        await session.commit()


async def _submitted_order(stub: Stub, shop_id: str, warehouse_id: str, lines: dict[str, int]) -> str:
    """A submitted purchase order of ``lines`` (SKU -> units) into the warehouse; its id."""
    as_seller = as_(seller(shop_id))
    supplier = await stub.CreateSupplier(
        pb.CreateSupplierRequest(shop_id=shop_id, name="CV Segar Selalu", lead_time_days=2),
        metadata=as_seller,
    )
    order = await stub.CreatePurchaseOrder(
        pb.CreatePurchaseOrderRequest(
            supplier_id=supplier.supplier.id,
            warehouse_id=warehouse_id,
            lines=[
                pb.PurchaseOrderLine(sku_id=sku, quantity=units, unit_cost={"amount": 5_000})
                for sku, units in lines.items()
            ],
        ),
        metadata=as_seller,
    )
    await stub.SubmitPurchaseOrder(
        pb.SubmitPurchaseOrderRequest(id=order.purchase_order.id), metadata=as_seller
    )
    return order.purchase_order.id


async def test_a_purchase_order_receipt_puts_accepted_perishable_units_in_the_lot_it_names(
    stub: Stub, database: Database
) -> None:
    shop_id, warehouse_id, fresh = await _perishable(stub)
    plain = new_id()
    order_id = await _submitted_order(stub, shop_id, warehouse_id, {fresh: 10, plain: 5})
    as_seller = as_(seller(shop_id))

    async def receipt(*lines: pb.ReceiptLine) -> tuple[grpc.StatusCode, str, list[str]]:
        return await failure(
            stub.ReceivePurchaseOrder(
                pb.ReceivePurchaseOrderRequest(id=order_id, lines=lines), metadata=as_seller
            )
        )

    no_lot = await receipt(pb.ReceiptLine(sku_id=plain, accepted=5), pb.ReceiptLine(sku_id=fresh, accepted=3))
    no_date = await receipt(pb.ReceiptLine(sku_id=fresh, accepted=3, lot_code="PO-L1"))
    no_code = await receipt(pb.ReceiptLine(sku_id=fresh, accepted=3, expiry_date=_in_days(30)))
    expired = await receipt(
        pb.ReceiptLine(sku_id=plain, accepted=5),
        pb.ReceiptLine(sku_id=fresh, accepted=3, lot_code="PO-L1", expiry_date=_in_days(-1)),
    )
    garbled = await receipt(
        pb.ReceiptLine(sku_id=fresh, accepted=3, lot_code="PO-L1", expiry_date="31/12/2026")
    )
    unprintable = await receipt(
        pb.ReceiptLine(sku_id=fresh, accepted=3, lot_code="PO\x07L1", expiry_date=_in_days(30))
    )
    too_long = await receipt(
        pb.ReceiptLine(sku_id=fresh, accepted=3, lot_code="L" * 65, expiry_date=_in_days(30))
    )
    untouched = await stub.GetPurchaseOrder(pb.GetPurchaseOrderRequest(id=order_id), metadata=as_seller)
    nothing_booked = (
        await _ledger(database, fresh),
        await _ledger(database, plain),
        await _lots(database, fresh),
    )

    partial = await stub.ReceivePurchaseOrder(
        pb.ReceivePurchaseOrderRequest(
            id=order_id,
            lines=[
                pb.ReceiptLine(
                    sku_id=fresh, accepted=4, rejected=1, lot_code=" PO-L1 ", expiry_date=_in_days(30)
                ),
                # Nothing accepted, so no lot: what is written there is not looked at.
                pb.ReceiptLine(sku_id=plain, rejected=1, lot_code="\x07", expiry_date="kemarin"),
            ],
        ),
        metadata=as_seller,
    )
    done = await stub.ReceivePurchaseOrder(
        pb.ReceivePurchaseOrderRequest(
            id=order_id,
            lines=[
                pb.ReceiptLine(sku_id=fresh, accepted=5, lot_code="PO-L2", expiry_date=_in_days(0)),
                pb.ReceiptLine(sku_id=plain, accepted=4),
            ],
        ),
        metadata=as_seller,
    )
    plain_stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=plain), metadata=as_seller)

    assert no_lot == (INVALID, "LOT_REQUIRED", ["lines[1].lot_code"])
    assert no_date == (INVALID, "LOT_REQUIRED", ["lines[0].expiry_date"])
    assert no_code == (INVALID, "LOT_REQUIRED", ["lines[0].lot_code"])
    assert expired == (INVALID, "LOT_EXPIRED", ["lines[1].expiry_date"])
    assert garbled == (INVALID, "INVALID_LOT", ["lines[0].expiry_date"])
    assert unprintable == (INVALID, "INVALID_LOT", ["lines[0].lot_code"])
    assert too_long == (INVALID, "INVALID_LOT", ["lines[0].lot_code"])
    assert untouched.purchase_order.status == pb.PURCHASE_ORDER_STATUS_SUBMITTED
    assert [(line.accepted, line.rejected) for line in untouched.purchase_order.lines] == [(0, 0), (0, 0)]
    assert nothing_booked == ([], [], {})
    assert partial.purchase_order.status == pb.PURCHASE_ORDER_STATUS_PARTIALLY_RECEIVED
    assert done.purchase_order.status == pb.PURCHASE_ORDER_STATUS_RECEIVED
    assert await _lots(database, fresh) == {"PO-L1": (4, 0), "PO-L2": (5, 0)}
    assert await _ledger(database, fresh) == [("receipt", 4, ""), ("receipt", 5, "")]
    assert plain_stock.on_hand == 4
    assert await invariant_breaches(database) == []


async def test_a_perishable_sku_is_counted_lot_by_lot(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await _perishable(stub)
    as_seller = as_(seller(shop_id))
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "A", 10, 5)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "B", 20, 3)

    def count(counted: int, lot: str = "", days: int | None = None, expiry: str = "") -> pb.CountStockRequest:
        return pb.CountStockRequest(
            warehouse_id=warehouse_id,
            sku_id=sku_id,
            counted=counted,
            lot_code=lot,
            expiry_date=_in_days(days) if days is not None else expiry,
        )

    no_lot = await failure(stub.CountStock(count(8), metadata=as_seller))
    no_date = await failure(stub.CountStock(count(2, "A"), metadata=as_seller))
    no_code = await failure(stub.CountStock(count(2, days=10), metadata=as_seller))
    garbled = await failure(stub.CountStock(count(2, "A", expiry="2026-02-30"), metadata=as_seller))
    negative = await failure(stub.CountStock(count(-1, "A", 10), metadata=as_seller))
    untouched = await _lots(database, sku_id)

    down = await stub.CountStock(count(2, "A", 10), metadata=as_seller)
    up = await stub.CountStock(count(6, "B", 20), metadata=as_seller)
    found = await stub.CountStock(count(4, "C", 30), metadata=as_seller)
    same = await stub.CountStock(count(2, "A", 10), metadata=as_seller)
    await stub.Reserve(_reserve("order-count-1", sku_id, 2), metadata=as_(service()))  # both units of A
    below_held = await failure(stub.CountStock(count(1, "A", 10), metadata=as_seller))
    await _expire(database, sku_id, "B")
    expired_down = await stub.CountStock(count(1, "B", -1), metadata=as_seller)
    expired_up = await failure(stub.CountStock(count(3, "B", -1), metadata=as_seller))
    unknown_expired = await failure(stub.CountStock(count(1, "D", -2), metadata=as_seller))
    unknown_expired_none = await stub.CountStock(count(0, "D", -2), metadata=as_seller)

    assert no_lot == (INVALID, "LOT_REQUIRED", ["lot_code"])
    assert no_date == (INVALID, "LOT_REQUIRED", ["expiry_date"])
    assert no_code == (INVALID, "LOT_REQUIRED", ["lot_code"])
    assert garbled == (INVALID, "INVALID_LOT", ["expiry_date"])
    assert negative == (INVALID, "INVALID_QUANTITY", ["counted"])
    assert untouched == {"A": (5, 0), "B": (3, 0)}
    assert (down.difference, down.stock.on_hand) == (-3, 5)
    assert (up.difference, up.stock.on_hand) == (3, 8)
    assert (found.difference, found.stock.on_hand) == (4, 12)
    assert (same.difference, same.stock.on_hand) == (0, 12)
    assert below_held[:2] == (FAILED, "INSUFFICIENT_STOCK")
    assert (expired_down.difference, expired_down.stock.on_hand) == (-5, 7)
    assert expired_up == (INVALID, "LOT_EXPIRED", ["expiry_date"])
    assert unknown_expired == (INVALID, "LOT_EXPIRED", ["expiry_date"])
    assert unknown_expired_none.difference == 0
    assert await _lots(database, sku_id) == {"A": (2, 2), "B": (1, 0), "C": (4, 0)}
    assert [row for row in await _ledger(database, sku_id) if row[0] == "adjustment"] == [
        ("adjustment", -3, "stock count"),
        ("adjustment", 3, "stock count"),
        ("adjustment", 4, "stock count"),
        ("adjustment", -5, "stock count"),
    ]
    assert await invariant_breaches(database) == []


async def test_a_count_of_a_sku_kept_without_lots_ignores_lot_fields(stub: Stub, database: Database) -> None:
    shop_id, sku_id = new_id(), new_id()
    warehouse_id = await new_warehouse(stub, shop_id)

    counted = await stub.CountStock(
        pb.CountStockRequest(
            warehouse_id=warehouse_id, sku_id=sku_id, counted=7, lot_code="X", expiry_date=_in_days(-3)
        ),
        metadata=as_(seller(shop_id)),
    )

    assert (counted.difference, counted.stock.on_hand) == (7, 7)
    assert await _lots(database, sku_id) == {}
    assert await invariant_breaches(database) == []


def _listing(
    warehouse_id: str, sku_id: str, page_size: int = 0, page_token: str = ""
) -> pb.ListStockLotsRequest:
    return pb.ListStockLotsRequest(
        warehouse_id=warehouse_id, sku_id=sku_id, page_size=page_size, page_token=page_token
    )


def _shown(lots: Sequence[pb.StockLot]) -> list[tuple[str, str, int, int, int, bool]]:
    return [
        (lot.lot_code, lot.expiry_date, lot.on_hand, lot.reserved, lot.available, lot.expired) for lot in lots
    ]


async def test_a_stock_lines_lots_are_listed_first_expired_first_with_their_quantities(
    stub: Stub, database: Database
) -> None:
    shop_id, warehouse_id, sku_id = await _perishable(stub)
    as_seller = as_(seller(shop_id))
    for lot, days, units in [("L-B", 20, 3), ("L-Z", 5, 4), ("L-A", 5, 2), ("OLD", 3, 1), ("GONE", 1, 2)]:
        await _receive_lot(stub, shop_id, warehouse_id, sku_id, lot, days, units)
    await stub.CountStock(  # an emptied lot is not listed
        pb.CountStockRequest(
            warehouse_id=warehouse_id, sku_id=sku_id, counted=0, lot_code="GONE", expiry_date=_in_days(1)
        ),
        metadata=as_seller,
    )
    await _expire(database, sku_id, "OLD")
    await stub.Reserve(_reserve("order-lots-1", sku_id, 1), metadata=as_(service()))  # from L-A

    first = await stub.ListStockLots(_listing(warehouse_id, sku_id, page_size=2), metadata=as_seller)
    second = await stub.ListStockLots(
        _listing(warehouse_id, sku_id, page_size=2, page_token=first.next_page_token), metadata=as_seller
    )
    by_admin = await stub.ListStockLots(_listing(warehouse_id, sku_id), metadata=as_(admin()))
    by_service = await stub.ListStockLots(_listing(warehouse_id, sku_id), metadata=as_(service()))

    assert _shown(first.lots) == [("OLD", _in_days(-1), 1, 0, 1, True), ("L-A", _in_days(5), 2, 1, 1, False)]
    assert first.next_page_token
    assert _shown(second.lots) == [
        ("L-Z", _in_days(5), 4, 0, 4, False),
        ("L-B", _in_days(20), 3, 0, 3, False),
    ]
    assert second.next_page_token == ""
    assert _shown(by_admin.lots) == _shown(by_service.lots) == _shown([*first.lots, *second.lots])


async def test_listing_lots_refuses_bad_input_and_hides_other_shops(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, sku_id = await _perishable(stub)
    await _receive_lot(stub, shop_id, warehouse_id, sku_id, "L1", 9, 2)
    other_shop, other_warehouse, plain_sku = await stocked_sku(stub, 3)
    as_seller = as_(seller(shop_id))

    async def listing(
        warehouse: str = warehouse_id, sku: str = sku_id, page_size: int = 0, page_token: str = ""
    ) -> tuple[grpc.StatusCode, str, list[str]]:
        return await failure(
            stub.ListStockLots(_listing(warehouse, sku, page_size, page_token), metadata=as_seller)
        )

    plain_lots = await stub.ListStockLots(
        _listing(other_warehouse, plain_sku), metadata=as_(seller(other_shop))
    )
    not_theirs = await failure(
        stub.ListStockLots(_listing(warehouse_id, sku_id), metadata=as_(seller(other_shop)))
    )
    missing_warehouse = await listing(warehouse=new_id())
    unstocked = await listing(sku=new_id())
    bad_warehouse = await listing(warehouse="gudang-1")
    bad_sku = await listing(sku="sku-1")
    too_big = await listing(page_size=201)
    negative = await listing(page_size=-1)
    garbled_token = await listing(page_token="bm90LWEtdG9rZW4")
    foreign_token = await listing(page_token=encode_token(["2026-01-01", "L1"], [warehouse_id, plain_sku]))
    not_a_date = await listing(page_token=encode_token(["besok", "L1"], [warehouse_id, sku_id]))
    as_buyer = await failure(stub.ListStockLots(_listing(warehouse_id, sku_id), metadata=as_(buyer("ani"))))
    anonymous = await failure(stub.ListStockLots(_listing(warehouse_id, sku_id)))

    assert list(plain_lots.lots) == []
    assert plain_lots.next_page_token == ""
    assert not_theirs[:2] == (grpc.StatusCode.NOT_FOUND, "WAREHOUSE_NOT_FOUND")
    assert missing_warehouse[:2] == (grpc.StatusCode.NOT_FOUND, "WAREHOUSE_NOT_FOUND")
    assert unstocked[:2] == (grpc.StatusCode.NOT_FOUND, "SKU_NOT_STOCKED")
    assert bad_warehouse == (INVALID, "INVALID_ID", ["warehouse_id"])
    assert bad_sku == (INVALID, "INVALID_ID", ["sku_id"])
    assert too_big == negative == (INVALID, "PAGE_SIZE_OUT_OF_RANGE", ["page_size"])
    assert garbled_token == foreign_token == not_a_date == (INVALID, "INVALID_PAGE_TOKEN", ["page_token"])
    assert as_buyer[0] == grpc.StatusCode.PERMISSION_DENIED
    assert anonymous[:2] == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")
    assert await invariant_breaches(database) == []


async def test_a_receipt_racing_a_switch_to_perishable_is_refused_rather_than_kept_without_a_lot(
    stub: Stub, database: Database
) -> None:
    shop_id, sku_id = new_id(), new_id()
    warehouse_id = await new_warehouse(stub, shop_id)
    await stub.SetSkuPerishable(
        pb.SetSkuPerishableRequest(sku_id=sku_id, shop_id=shop_id, perishable=False),
        metadata=as_(seller(shop_id)),
    )

    async with database.sessions() as session, session.begin():
        # What SetSkuPerishable does under the SKU's row lock, caught before its commit while a receipt
        # without a lot is on its way.
        await session.execute(text("UPDATE skus SET perishable = true WHERE id = :sku"), {"sku": sku_id})
        receipt = asyncio.ensure_future(
            failure(
                stub.ReceiveStock(
                    pb.ReceiveStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=5),
                    metadata=as_(seller(shop_id)),
                )
            )
        )
        await asyncio.sleep(0.5)
    refused = await receipt

    assert refused[:2] == (INVALID, "LOT_REQUIRED")
    assert await invariant_breaches(database) == []
