"""Reservations through the real gRPC server: all or nothing, idempotent, committed, released, expired."""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
from inventory_testkit import (
    Stub,
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
from sqlalchemy import text

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database

FAILED = grpc.StatusCode.FAILED_PRECONDITION
INVALID = grpc.StatusCode.INVALID_ARGUMENT


def reserve_request(
    reference: str, *lines: tuple[str, int], city: str = "", ttl: int = 0
) -> pb.ReserveRequest:
    return pb.ReserveRequest(
        reference=reference,
        lines=[pb.ReservationLine(sku_id=sku, quantity=quantity) for sku, quantity in lines],
        buyer_city=city,
        ttl_seconds=ttl,
    )


async def available(stub: Stub, shop_id: str, sku_id: str) -> int:
    reply = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(seller(shop_id)))
    return reply.available


async def test_a_reservation_holds_stock_until_committed(stub: Stub, database: Database) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 10)

    reserved = (
        await stub.Reserve(reserve_request("order-a1", (sku_id, 3)), metadata=as_(service()))
    ).reservation
    held = await available(stub, shop_id, sku_id)
    committed = (
        await stub.CommitReservation(
            pb.CommitReservationRequest(reference="order-a1"), metadata=as_(service())
        )
    ).reservation
    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(seller(shop_id)))

    assert reserved.status == pb.RESERVATION_STATUS_ACTIVE
    assert held == 7
    assert committed.status == pb.RESERVATION_STATUS_COMMITTED
    assert (stock.on_hand, stock.available, stock.levels[0].reserved) == (7, 7, 0)
    assert await invariant_breaches(database) == []


async def test_reserve_is_all_or_nothing_and_names_the_short_skus(stub: Stub, database: Database) -> None:
    shop_id, warehouse_id, plenty = await stocked_sku(stub, 10)
    scarce = new_id()
    await receive(stub, shop_id, warehouse_id, scarce, 2)

    code, reason, _ = await failure(
        stub.Reserve(reserve_request("order-b1", (plenty, 5), (scarce, 3)), metadata=as_(service()))
    )

    assert (code, reason) == (FAILED, "INSUFFICIENT_STOCK")
    assert await available(stub, shop_id, plenty) == 10
    assert await available(stub, shop_id, scarce) == 2
    assert await invariant_breaches(database) == []


async def test_the_same_reference_is_idempotent_but_not_for_other_lines(stub: Stub) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 10)

    first = (
        await stub.Reserve(reserve_request("order-c1", (sku_id, 2)), metadata=as_(service()))
    ).reservation
    again = (
        await stub.Reserve(reserve_request("order-c1", (sku_id, 2)), metadata=as_(service()))
    ).reservation
    reused = await failure(stub.Reserve(reserve_request("order-c1", (sku_id, 3)), metadata=as_(service())))

    assert again == first
    assert await available(stub, shop_id, sku_id) == 8
    assert reused[:2] == (FAILED, "RESERVATION_REFERENCE_REUSED")


async def test_allocation_prefers_the_buyers_city_then_province_and_splits(stub: Stub) -> None:
    shop_id, sku_id = new_id(), new_id()
    jakarta = await new_warehouse(stub, shop_id, "Jakarta Barat")
    bekasi = await new_warehouse(stub, shop_id, "Bekasi")
    surabaya = await new_warehouse(stub, shop_id, "Surabaya")
    for warehouse, quantity in ((jakarta, 5), (bekasi, 3), (surabaya, 50)):
        await receive(stub, shop_id, warehouse, sku_id, quantity)

    near = (
        await stub.Reserve(reserve_request("order-d1", (sku_id, 4), city="Bandung"), metadata=as_(service()))
    ).reservation
    split = (
        await stub.Reserve(
            reserve_request("order-d2", (sku_id, 10), city="Jakarta Barat"), metadata=as_(service())
        )
    ).reservation

    # Bandung is in Jawa Barat, like Bekasi: its 3 units first, then the most stocked elsewhere.
    assert {(a.warehouse_id, a.quantity) for a in near.allocations} == {(bekasi, 3), (surabaya, 1)}
    assert {(a.warehouse_id, a.quantity) for a in split.allocations} == {(jakarta, 5), (surabaya, 5)}


async def test_release_gives_stock_back_and_is_idempotent_and_commit_then_refuses(stub: Stub) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 5)
    await stub.Reserve(reserve_request("order-e1", (sku_id, 5)), metadata=as_(service()))

    released = (
        await stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reference="order-e1"), metadata=as_(service())
        )
    ).reservation
    again = (
        await stub.ReleaseReservation(
            pb.ReleaseReservationRequest(reference="order-e1"), metadata=as_(service())
        )
    ).reservation
    commit = await failure(
        stub.CommitReservation(pb.CommitReservationRequest(reference="order-e1"), metadata=as_(service()))
    )

    assert released.status == again.status == pb.RESERVATION_STATUS_RELEASED
    assert await available(stub, shop_id, sku_id) == 5
    assert commit[:2] == (FAILED, "RESERVATION_EXPIRED")


async def test_expired_reservations_come_back_and_cannot_be_committed(stub: Stub, database: Database) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 4)
    await stub.Reserve(reserve_request("order-f1", (sku_id, 4), ttl=1), metadata=as_(service()))
    assert await available(stub, shop_id, sku_id) == 0

    for _ in range(100):  # the expiry worker runs every 0.2 s here; allow a loaded machine 20 s
        reply = await stub.GetReservation(
            pb.GetReservationRequest(reference="order-f1"), metadata=as_(service())
        )
        if reply.reservation.status == pb.RESERVATION_STATUS_EXPIRED:
            break
        await asyncio.sleep(0.2)
    commit = await failure(
        stub.CommitReservation(pb.CommitReservationRequest(reference="order-f1"), metadata=as_(service()))
    )

    assert reply.reservation.status == pb.RESERVATION_STATUS_EXPIRED
    assert await available(stub, shop_id, sku_id) == 4
    assert commit[:2] == (FAILED, "RESERVATION_EXPIRED")
    assert await invariant_breaches(database) == []


async def test_many_concurrent_reservations_never_take_more_than_is_available(
    stub: Stub, database: Database
) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 20)

    async def attempt(n: int) -> grpc.StatusCode:
        try:
            await stub.Reserve(reserve_request(f"order-g{n}", (sku_id, 1)), metadata=as_(service()))
        except grpc.aio.AioRpcError as error:
            return error.code()
        return grpc.StatusCode.OK

    outcomes = Counter(await asyncio.gather(*(attempt(n) for n in range(50))))

    assert outcomes == {grpc.StatusCode.OK: 20, FAILED: 30}
    assert await available(stub, shop_id, sku_id) == 0
    assert await invariant_breaches(database) == []


async def test_concurrent_retries_of_one_reference_hold_the_stock_once(
    stub: Stub, database: Database
) -> None:
    # A client that times out and retries while its first call still waits on a busy stock line: every
    # call gets the one reservation, and the stock is held once.
    shop_id, _, sku_id = await stocked_sku(stub, 10)

    async with database.sessions() as session, session.begin():
        # Another transaction holds the line, so that every call arrives before the first one is done.
        await session.execute(text("SELECT id FROM stock WHERE sku_id = :sku FOR UPDATE"), {"sku": sku_id})
        calls = asyncio.gather(
            *(
                stub.Reserve(reserve_request("order-r1", (sku_id, 3)), metadata=as_(service()))
                for _ in range(12)
            )
        )
        await asyncio.sleep(0.5)
    replies = await calls

    assert len({reply.reservation.id for reply in replies}) == 1
    assert await available(stub, shop_id, sku_id) == 7
    assert await invariant_breaches(database) == []


async def test_reservations_of_one_line_expiring_together_all_come_back(
    stub: Stub, database: Database
) -> None:
    # The expiry worker releases a batch in one move, here several reservations of one stock line.
    shop_id, _, sku_id = await stocked_sku(stub, 6)
    for n in range(3):
        await stub.Reserve(reserve_request(f"order-x{n}", (sku_id, 2), ttl=1), metadata=as_(service()))
    assert await available(stub, shop_id, sku_id) == 0

    for _ in range(100):  # the expiry worker runs every 0.2 s here; allow a loaded machine 20 s
        if await available(stub, shop_id, sku_id) == 6:
            break
        await asyncio.sleep(0.2)

    assert await available(stub, shop_id, sku_id) == 6
    assert await invariant_breaches(database) == []


async def test_concurrent_multi_sku_reservations_in_opposite_orders_do_not_deadlock(
    stub: Stub, database: Database
) -> None:
    shop_id, warehouse_id, first = await stocked_sku(stub, 30)
    second = new_id()
    await receive(stub, shop_id, warehouse_id, second, 30)

    async def attempt(n: int) -> None:
        lines = ((first, 1), (second, 1)) if n % 2 else ((second, 1), (first, 1))
        await stub.Reserve(reserve_request(f"order-h{n}", *lines), metadata=as_(service()))

    await asyncio.gather(*(attempt(n) for n in range(30)))

    assert await available(stub, shop_id, first) == await available(stub, shop_id, second) == 0
    assert await invariant_breaches(database) == []


async def test_bad_reservations_get_clear_reasons(stub: Stub) -> None:
    _, _, sku_id = await stocked_sku(stub, 5)
    unknown = new_id()

    cases = {
        "negative": reserve_request("order-i1", (sku_id, -1)),
        "zero": reserve_request("order-i2", (sku_id, 0)),
        "no lines": reserve_request("order-i3"),
        "duplicate": reserve_request("order-i4", (sku_id, 1), (sku_id, 1)),
        "ttl": reserve_request("order-i5", (sku_id, 1), ttl=-5),
        "no reference": reserve_request("", (sku_id, 1)),
        "bad id": reserve_request("order-i6", ("not-a-uuid", 1)),
    }
    outcomes = {
        name: (await failure(stub.Reserve(request, metadata=as_(service()))))[:2]
        for name, request in cases.items()
    }
    unknown_sku = await failure(
        stub.Reserve(reserve_request("order-i7", (unknown, 1)), metadata=as_(service()))
    )
    missing = await failure(
        stub.CommitReservation(pb.CommitReservationRequest(reference="order-none"), metadata=as_(service()))
    )

    assert outcomes == {
        "negative": (INVALID, "INVALID_QUANTITY"),
        "zero": (INVALID, "INVALID_QUANTITY"),
        "no lines": (INVALID, "NO_LINES"),
        "duplicate": (INVALID, "DUPLICATE_SKU"),
        "ttl": (INVALID, "INVALID_TTL"),
        "no reference": (INVALID, "INVALID_REFERENCE"),
        "bad id": (INVALID, "INVALID_ID"),
    }
    assert unknown_sku[:2] == (grpc.StatusCode.NOT_FOUND, "SKU_NOT_STOCKED")
    assert missing[:2] == (grpc.StatusCode.NOT_FOUND, "RESERVATION_NOT_FOUND")


async def test_sellers_and_buyers_cannot_reserve(stub: Stub) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 5)

    code, reason, _ = await failure(
        stub.Reserve(reserve_request("order-j1", (sku_id, 1)), metadata=as_(seller(shop_id)))
    )

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")


async def test_units_sold_go_back_where_they_came_from_once_per_return_and_never_above_what_was_sold(
    stub: Stub, database: Database
) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 10)
    _, _, other_sku = await stocked_sku(stub, 10)
    reference = new_id()
    await stub.Reserve(reserve_request(reference, (sku_id, 4), (other_sku, 2)), metadata=as_(service()))
    not_sold = await failure(
        stub.ReturnReservedStock(
            pb.ReturnReservedStockRequest(
                reference=reference,
                return_reference="order:early",
                lines=[pb.ReservationLine(sku_id=sku_id, quantity=1)],
            ),
            metadata=as_(service()),
        )
    )
    await stub.CommitReservation(pb.CommitReservationRequest(reference=reference), metadata=as_(service()))
    sold = await available(stub, shop_id, sku_id)

    def returning(key: str, quantity: int) -> pb.ReturnReservedStockRequest:
        return pb.ReturnReservedStockRequest(
            reference=reference,
            return_reference=key,
            lines=[pb.ReservationLine(sku_id=sku_id, quantity=quantity)],
        )

    first = await stub.ReturnReservedStock(returning("order:1", 3), metadata=as_(service()))
    retried = await stub.ReturnReservedStock(returning("order:1", 3), metadata=as_(service()))
    reused = await failure(stub.ReturnReservedStock(returning("order:1", 1), metadata=as_(service())))
    too_many = await failure(stub.ReturnReservedStock(returning("order:2", 2), metadata=as_(service())))
    by_seller = await failure(
        stub.ReturnReservedStock(returning("order:3", 1), metadata=as_(seller(shop_id)))
    )

    assert not_sold[:2] == (FAILED, "RESERVATION_NOT_COMMITTED")
    assert sold == 6
    assert [(a.sku_id, a.quantity) for a in first.returned] == [(sku_id, 3)]
    assert retried == first
    assert await available(stub, shop_id, sku_id) == 9
    assert reused[:2] == (FAILED, "RETURN_REFERENCE_REUSED")
    assert too_many[:2] == (FAILED, "RETURN_EXCEEDS_SOLD")
    assert by_seller[0] == grpc.StatusCode.PERMISSION_DENIED
    assert await invariant_breaches(database) == []
