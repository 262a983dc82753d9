"""Perishable SKUs: receipts name a live lot, stock is held and sold first-expired-first-out, expired lots never."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from inventory_testkit import Stub, as_, failure, invariant_breaches, new_id, new_warehouse, seller, service
from sqlalchemy import text

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database

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
