"""Delivery slot holds through the real shipping service: a checkout keeps a place until its shipment books it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from shipping_testkit import as_admin, as_seller, as_service, as_user, error_details, failure
from sqlalchemy import func, insert, select, update

from toko.platform.db import Database
from toko.services.shipping.handlers.slots import WIB
from toko.services.shipping.repository.tables import delivery_slots, shipments, slot_holds
from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1 import shipping_pb2_grpc

Stub = shipping_pb2_grpc.ShippingServiceStub
FAILED = grpc.StatusCode.FAILED_PRECONDITION
HELD, BOOKED, RELEASED = pb.SLOT_HOLD_STATE_HELD, pb.SLOT_HOLD_STATE_BOOKED, pb.SLOT_HOLD_STATE_RELEASED

BANDUNG = pb.Place(province="Jawa Barat", city="Kota Bandung", district="Coblong", postal_code="40132")
WITHIN = pb.Place(province="Jawa Barat", city="Bandung", district="Sukajadi")
SHOP = str(uuid.uuid4())


def new_day() -> pb.ListDeliverySlotsRequest:
    """Tomorrow's same-day slots from a city of the test's own: slots no other test holds or books."""
    tomorrow = (datetime.now(WIB) + timedelta(days=1)).date().isoformat()
    city = f"Kota Uji {uuid.uuid4().hex[:8]}"
    return pb.ListDeliverySlotsRequest(courier="gosend", service="SAMEDAY", city=city, date=tomorrow)


async def slots_of(stub: Stub, day: pb.ListDeliverySlotsRequest) -> list[pb.DeliverySlot]:
    return list((await stub.ListDeliverySlots(day)).slots)


async def new_slot(stub: Stub) -> pb.DeliverySlot:
    return (await slots_of(stub, new_day()))[0]


def new_reference() -> str:
    return f"checkout-{uuid.uuid4()}/{SHOP}"


def hold_request(reference: str, slot_id: str, ttl_seconds: int = 0) -> pb.HoldDeliverySlotRequest:
    return pb.HoldDeliverySlotRequest(reference=reference, slot_id=slot_id, ttl_seconds=ttl_seconds)


async def hold(stub: Stub, reference: str, slot_id: str) -> pb.SlotHold:
    return (await stub.HoldDeliverySlot(hold_request(reference, slot_id), metadata=as_service())).hold


async def release(stub: Stub, reference: str) -> pb.ReleaseDeliverySlotResponse:
    request = pb.ReleaseDeliverySlotRequest(reference=reference)
    return await stub.ReleaseDeliverySlot(request, metadata=as_service())


async def fill(stub: Stub, slot_id: str, places: int) -> list[str]:
    """Hold ``places`` places of the slot, each under a reference of its own."""
    references = [new_reference() for _ in range(places)]
    for reference in references:
        await hold(stub, reference, slot_id)
    return references


async def left(stub: Stub, slot_id: str) -> int:
    return (await stub.GetDeliverySlot(pb.GetDeliverySlotRequest(id=slot_id))).slot.capacity_left


async def expire(database: Database, reference: str) -> None:
    """Let a hold's time run out (the service's clock is the wall clock)."""
    async with database.unit_of_work("test") as uow:
        await uow.session.execute(
            update(slot_holds)
            .where(slot_holds.c.reference == reference)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await uow.commit()


async def same_day_rate(stub: Stub) -> pb.ShippingRate:
    items = [pb.ParcelItem(weight_grams=1000, quantity=1)]
    asked = pb.QuoteShippingRatesRequest(origin=BANDUNG, destination=WITHIN, items=items, couriers=["gosend"])
    return next(rate for rate in (await stub.QuoteShippingRates(asked)).rates if rate.service == "SAMEDAY")


def shipment_request(
    rate: pb.ShippingRate, slot_id: str, *, order_id: str = "", hold_reference: str = ""
) -> pb.CreateShipmentRequest:
    def contact(place: pb.Place) -> pb.Contact:
        return pb.Contact(name="Budi", phone="+6281234567890", street="Jl. Dago 1", place=place)

    return pb.CreateShipmentRequest(
        order_id=order_id or str(uuid.uuid4()),
        shop_id=SHOP,
        buyer_id="buyer-1",
        rate_id=rate.id,
        sender=contact(BANDUNG),
        recipient=contact(WITHIN),
        slot_id=slot_id,
        slot_hold_reference=hold_reference,
    )


async def ship(stub: Stub, request: pb.CreateShipmentRequest) -> pb.Shipment:
    return (await stub.CreateShipment(request, metadata=as_seller(SHOP))).shipment


async def miscounted_slots(database: Database) -> list[str]:
    """Slots whose booked places are not their held holds plus their shipments (a booked hold is its shipment's)."""
    held = (
        select(func.count())
        .where(slot_holds.c.slot_id == delivery_slots.c.id, slot_holds.c.state == HELD)
        .scalar_subquery()
    )
    shipped = select(func.count()).where(shipments.c.slot_id == delivery_slots.c.id).scalar_subquery()
    async with database.sessions() as session:
        rows = await session.execute(
            select(delivery_slots.c.id).where(delivery_slots.c.booked != held + shipped)
        )
    return [row.id for row in rows]


async def test_a_hold_takes_one_place_and_its_reference_holds_once(stub: Stub, database: Database) -> None:
    # Given two slots with every place free
    first, second = await slots_of(stub, new_day())
    reference = new_reference()

    # When a checkout holds the first one, then asks again
    held = await hold(stub, reference, first.id)
    again = await hold(stub, reference, first.id)

    # Then one place is kept, for a day, and the retry is the same hold
    assert (held.reference, held.slot_id, held.state) == (reference, first.id, HELD)
    lasts = held.expire_time.ToDatetime(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(hours=23, minutes=58) < lasts <= timedelta(days=1)
    assert again == held
    assert await left(stub, first.id) == first.capacity_left - 1
    # And the reference holds no other slot
    conflict = await failure(stub.HoldDeliverySlot(hold_request(reference, second.id), metadata=as_service()))
    assert conflict[:2] == (FAILED, "SLOT_HOLD_CONFLICT")
    assert await left(stub, second.id) == second.capacity_left
    assert await miscounted_slots(database) == []


async def test_racing_retries_of_one_reference_take_one_place(stub: Stub, database: Database) -> None:
    slot = await new_slot(stub)
    reference = new_reference()

    holds = await asyncio.gather(*(hold(stub, reference, slot.id) for _ in range(6)))

    assert all(each == holds[0] for each in holds)
    assert await left(stub, slot.id) == slot.capacity_left - 1
    assert await miscounted_slots(database) == []


async def test_the_last_place_goes_to_one_of_two_racing_holds(stub: Stub, database: Database) -> None:
    # Given a slot with one place left
    slot = await new_slot(stub)
    await fill(stub, slot.id, slot.capacity_left - 1)

    # When two checkouts hold it at once
    results = await asyncio.gather(
        hold(stub, new_reference(), slot.id), hold(stub, new_reference(), slot.id), return_exceptions=True
    )

    # Then one has it and the other is told the slot is full
    won = [result for result in results if isinstance(result, pb.SlotHold)]
    lost = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert (len(won), len(lost)) == (1, 1)
    assert (lost[0].code(), error_details(lost[0])[0]) == (FAILED, "SLOT_FULL")
    assert await left(stub, slot.id) == 0
    assert await miscounted_slots(database) == []


async def test_a_release_gives_the_place_back_once(stub: Stub, database: Database) -> None:
    # Given a held place
    slot = await new_slot(stub)
    reference = new_reference()
    await hold(stub, reference, slot.id)

    # When the checkout is cancelled, and the release is sent twice
    released = (await release(stub, reference)).hold
    again = (await release(stub, reference)).hold

    # Then the place is free again, once
    assert (released.reference, released.state) == (reference, RELEASED)
    assert again == released
    assert await left(stub, slot.id) == slot.capacity_left
    # And a reference that held nothing releases nothing
    assert not (await release(stub, new_reference())).HasField("hold")
    # And holding under a released reference is that released hold: it takes no place
    assert await hold(stub, reference, slot.id) == released
    assert await left(stub, slot.id) == slot.capacity_left
    assert await miscounted_slots(database) == []


async def test_an_expired_hold_lapses_and_its_place_goes_to_the_next_checkout(
    stub: Stub, database: Database
) -> None:
    # Given a slot full of holds
    day = new_day()
    slot = (await slots_of(stub, day))[0]
    references = await fill(stub, slot.id, slot.capacity_left)
    full = await failure(stub.HoldDeliverySlot(hold_request(new_reference(), slot.id), metadata=as_service()))
    assert full[:2] == (FAILED, "SLOT_FULL")

    # When one hold's time runs out
    await expire(database, references[0])

    # Then the next checkout gets its place, and the expired hold is released
    assert (await hold(stub, new_reference(), slot.id)).state == HELD
    assert (await hold(stub, references[0], slot.id)).state == RELEASED
    assert await left(stub, slot.id) == 0
    # And an expired hold is not counted in the capacity listed or shown
    await expire(database, references[1])
    assert next(s for s in await slots_of(stub, day) if s.id == slot.id).capacity_left == 1
    await expire(database, references[2])
    assert await left(stub, slot.id) == 2
    # And releasing a lapsed hold gives nothing back a second time
    assert (await release(stub, references[1])).hold.state == RELEASED
    assert await left(stub, slot.id) == 2
    assert await miscounted_slots(database) == []


async def test_a_shipment_citing_its_hold_books_the_held_place_of_a_full_slot(
    stub: Stub, database: Database
) -> None:
    # Given a slot full of holds, one of them the order's own
    slot = await new_slot(stub)
    rate = await same_day_rate(stub)
    ours = new_reference()
    await fill(stub, slot.id, slot.capacity_left - 1)
    await hold(stub, ours, slot.id)
    order = str(uuid.uuid4())
    # (without citing the hold, the order finds the slot full)
    refused = await failure(
        stub.CreateShipment(shipment_request(rate, slot.id, order_id=order), metadata=as_seller(SHOP))
    )
    assert refused[:2] == (FAILED, "SLOT_FULL")
    # (and the hold expired, though nothing lapsed it yet)
    await expire(database, ours)

    # When the seller books the order citing its hold
    booked = await ship(stub, shipment_request(rate, slot.id, order_id=order, hold_reference=ours))

    # Then the shipment has the held place, no second one, and the hold is booked for good
    assert booked.slot.id == slot.id
    assert await left(stub, slot.id) == 0
    assert (await release(stub, ours)).hold.state == BOOKED
    assert await left(stub, slot.id) == 0
    # And booking the order again is the same shipment on the same place
    again = await ship(stub, shipment_request(rate, slot.id, order_id=order, hold_reference=ours))
    assert again.id == booked.id
    assert await left(stub, slot.id) == 0
    assert await miscounted_slots(database) == []


async def test_a_hold_no_longer_keeping_a_place_spares_a_shipment_nothing(
    stub: Stub, database: Database
) -> None:
    # Given a released hold, a hold on another slot, and a hold already booked by another order
    first, second = await slots_of(stub, new_day())
    rate = await same_day_rate(stub)
    released, elsewhere, taken = new_reference(), new_reference(), new_reference()
    await hold(stub, released, first.id)
    await release(stub, released)
    await hold(stub, elsewhere, second.id)
    await hold(stub, taken, first.id)
    await ship(stub, shipment_request(rate, first.id, hold_reference=taken))
    before = await left(stub, first.id)

    # When orders cite them
    for reference in (released, elsewhere, taken):
        await ship(stub, shipment_request(rate, first.id, hold_reference=reference))

    # Then each took a place of its own, and the hold on the other slot still keeps its place
    assert await left(stub, first.id) == before - 3
    assert await left(stub, second.id) == second.capacity_left - 1
    assert (await hold(stub, elsewhere, second.id)).state == HELD
    # And a full slot refuses an order citing a hold it no longer has
    await fill(stub, first.id, await left(stub, first.id))
    full = await failure(
        stub.CreateShipment(
            shipment_request(rate, first.id, hold_reference=released), metadata=as_seller(SHOP)
        )
    )
    assert full[:2] == (FAILED, "SLOT_FULL")
    assert await miscounted_slots(database) == []


async def test_only_services_and_admins_hold_places_and_asking_wrong_is_refused(
    stub: Stub, database: Database
) -> None:
    slot = await new_slot(stub)
    request = hold_request(new_reference(), slot.id)
    releasing = pb.ReleaseDeliverySlotRequest(reference=request.reference)

    buyer = await failure(stub.HoldDeliverySlot(request, metadata=as_user()))
    seller = await failure(stub.HoldDeliverySlot(request, metadata=as_seller(SHOP)))
    anonymous = await failure(stub.HoldDeliverySlot(request))
    buyer_release = await failure(stub.ReleaseDeliverySlot(releasing, metadata=as_user()))

    assert buyer[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert seller[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert anonymous[0] == grpc.StatusCode.UNAUTHENTICATED
    assert buyer_release[0] == grpc.StatusCode.PERMISSION_DENIED
    assert await left(stub, slot.id) == slot.capacity_left
    assert (await stub.HoldDeliverySlot(request, metadata=as_admin())).hold.state == HELD

    # Bad fields, all named at once; an unknown slot; a slot that has started
    bad = hold_request("x" * 201, "", ttl_seconds=59)
    assert await failure(stub.HoldDeliverySlot(bad, metadata=as_service())) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "VALIDATION_FAILED",
        ["reference", "slot_id", "ttl_seconds"],
    )
    no_reference = pb.ReleaseDeliverySlotRequest(reference=" ")
    assert (await failure(stub.ReleaseDeliverySlot(no_reference, metadata=as_service())))[1:] == (
        "INVALID_HOLD",
        ["reference"],
    )
    unknown = hold_request(new_reference(), "SAMEDAY-nowhere-202701010900")
    assert (await failure(stub.HoldDeliverySlot(unknown, metadata=as_service())))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "SLOT_NOT_FOUND",
    )
    started = f"SAMEDAY-started-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    async with database.unit_of_work("test") as uow:
        await uow.session.execute(
            insert(delivery_slots).values(
                id=started,
                courier="gosend",
                service="SAMEDAY",
                city="Bandung",
                starts_at=now - timedelta(hours=1),
                ends_at=now + timedelta(hours=5),
                capacity=5,
                booked=0,
            )
        )
        await uow.commit()
    late = hold_request(new_reference(), started)
    assert (await failure(stub.HoldDeliverySlot(late, metadata=as_service())))[:2] == (FAILED, "SLOT_STARTED")
    # And a shipment citing an over-long hold reference is refused
    rate = await same_day_rate(stub)
    too_long = shipment_request(rate, slot.id, hold_reference="x" * 201)
    assert (await failure(stub.CreateShipment(too_long, metadata=as_seller(SHOP))))[1:] == (
        "INVALID_HOLD",
        ["slot_hold_reference"],
    )
    assert await miscounted_slots(database) == []
