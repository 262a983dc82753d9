"""Rates, slots, shipments and tracking through the real shipping service and the sandbox's couriers."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import datetime, timedelta

import grpc
import httpx
import orjson
from shipping_testkit import WEBHOOK_SECRET, Eventually, as_admin, as_seller, as_user, failure
from sqlalchemy import func, select

from toko.platform.db import Database
from toko.platform.schema import outbox
from toko.services.shipping.handlers.slots import WIB
from toko.services.shipping.handlers.tracking import signature_of
from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1 import shipping_pb2_grpc

Stub = shipping_pb2_grpc.ShippingServiceStub

BANDUNG = pb.Place(province="Jawa Barat", city="Kota Bandung", district="Coblong", postal_code="40132")
SURABAYA = pb.Place(province="Jawa Timur", city="Surabaya", district="Gubeng")


def quote(
    origin: pb.Place = BANDUNG, destination: pb.Place = SURABAYA, **fields: object
) -> pb.QuoteShippingRatesRequest:
    items = [pb.ParcelItem(weight_grams=1300, length_mm=100, width_mm=100, height_mm=100, quantity=1)]
    return pb.QuoteShippingRatesRequest(origin=origin, destination=destination, items=items, **fields)  # type: ignore[arg-type]


def contact(place: pb.Place) -> pb.Contact:
    return pb.Contact(name="Budi", phone="+6281234567890", street="Jl. Dago 1", place=place)


async def test_a_quote_asks_every_courier_and_keeps_each_rate_under_an_id(stub: Stub) -> None:
    answer = await stub.QuoteShippingRates(quote())

    assert answer.actual_weight_grams == 1300
    assert answer.volumetric_weight_grams == 167
    prices = [rate.price.amount for rate in answer.rates]
    assert prices == sorted(prices)
    offered = {(rate.courier, rate.service) for rate in answer.rates}
    assert {("jne", "REG"), ("jnt", "EZ"), ("sicepat", "REG"), ("anteraja", "REG")} <= offered
    # GoSend delivers within one city only; JNE charges 1.3 kg as 1 kg, AnterAja rounds it up to 2.
    assert not any(courier == "gosend" for courier, _ in offered)
    weights = {rate.courier: rate.chargeable_weight_grams for rate in answer.rates}
    assert (weights["jne"], weights["anteraja"]) == (1000, 2000)
    cited = (await stub.GetShippingRate(pb.GetShippingRateRequest(rate_id=answer.rates[0].id))).rate
    assert cited == answer.rates[0]


async def test_cod_and_courier_filters_narrow_the_quote(stub: Stub) -> None:
    answer = await stub.QuoteShippingRates(quote(cod=True, couriers=["jne"]))

    assert {rate.service for rate in answer.rates} == {"OKE", "REG"}
    assert all(rate.cod_available for rate in answer.rates)


async def test_every_bad_field_of_a_quote_is_named_at_once(stub: Stub) -> None:
    request = pb.QuoteShippingRatesRequest(
        origin=pb.Place(province="Jawa Barat", city=" "),
        destination=pb.Place(province="Jawa Timur", city="Surabaya", postal_code="12"),
        items=[pb.ParcelItem(weight_grams=0, length_mm=3000, quantity=1000)],
        couriers=["jne", "pos"],
    )

    code, reason, fields = await failure(stub.QuoteShippingRates(request))

    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED")
    assert fields == [
        "origin.city",
        "destination.district",
        "destination.postal_code",
        "items[0].weight_grams",
        "items[0].length_mm",
        "items[0].quantity",
        "couriers[1]",
    ]
    no_items = pb.QuoteShippingRatesRequest(origin=BANDUNG, destination=SURABAYA)
    assert (await failure(stub.QuoteShippingRates(no_items)))[1:] == ("INVALID_PARCEL", ["items"])


async def test_unknown_rates_are_not_found(stub: Stub) -> None:
    assert (await failure(stub.GetShippingRate(pb.GetShippingRateRequest(rate_id=str(uuid.uuid4())))))[
        :2
    ] == (
        grpc.StatusCode.NOT_FOUND,
        "RATE_NOT_FOUND",
    )
    assert (await failure(stub.GetShippingRate(pb.GetShippingRateRequest(rate_id="x"))))[1] == "INVALID_ID"


async def book(
    stub: Stub, shop_id: str, *, order_id: str = "", rate: pb.ShippingRate | None = None
) -> pb.Shipment:
    if rate is None:
        rate = next(r for r in (await stub.QuoteShippingRates(quote())).rates if r.courier == "jne")
    request = pb.CreateShipmentRequest(
        order_id=order_id or str(uuid.uuid4()),
        shop_id=shop_id,
        buyer_id="buyer-1",
        rate_id=rate.id,
        sender=contact(BANDUNG),
        recipient=contact(SURABAYA),
    )
    return (await stub.CreateShipment(request, metadata=as_seller(shop_id))).shipment


async def test_a_seller_books_once_per_order_and_the_buyer_follows_it_to_delivery(
    stub: Stub, couriers: httpx.AsyncClient, database: Database, eventually: Eventually
) -> None:
    # Given a shipment booked by the shop's seller (booking the order again is the same shipment)
    shop = str(uuid.uuid4())
    order = str(uuid.uuid4())
    shipment = await book(stub, shop, order_id=order)
    assert shipment.waybill.startswith("JN")
    assert (await book(stub, shop, order_id=order)).id == shipment.id

    # When the courier carries it to the buyer, a step at a time (each webhook heard before the next
    # step: sent at once, a later one may arrive first and the shipment skips the step it reports)
    steps = (
        pb.SHIPMENT_STATUS_PICKED_UP,
        pb.SHIPMENT_STATUS_IN_TRANSIT,
        pb.SHIPMENT_STATUS_OUT_FOR_DELIVERY,
        pb.SHIPMENT_STATUS_DELIVERED,
    )
    for step in steps:
        assert (await couriers.post(f"/jne/shipments/{shipment.waybill}:advance")).status_code == 200

        async def reached(step: int = step) -> bool:
            seen = (
                await stub.GetShipment(pb.GetShipmentRequest(id=shipment.id), metadata=as_user("buyer-1"))
            ).shipment
            return seen.status == step

        await eventually(reached)

    # Then the buyer sees it delivered with its history, from the courier's webhooks
    seen = (await stub.GetShipment(pb.GetShipmentRequest(id=shipment.id), metadata=as_seller(shop))).shipment
    assert [event.status for event in seen.tracking] == [
        pb.SHIPMENT_STATUS_PICKED_UP,
        pb.SHIPMENT_STATUS_IN_TRANSIT,
        pb.SHIPMENT_STATUS_OUT_FOR_DELIVERY,
        pb.SHIPMENT_STATUS_DELIVERED,
    ]
    assert await _events(database, shipment.id) == {
        "toko.shipping.v1.ShipmentBooked": 1,
        "toko.shipping.v1.ShipmentStatusChanged": 4,
        "toko.shipping.v1.ShipmentDelivered": 1,
    }
    # And nobody else learns it exists
    stranger = await failure(stub.GetShipment(pb.GetShipmentRequest(id=shipment.id), metadata=as_user()))
    assert stranger[:2] == (grpc.StatusCode.NOT_FOUND, "SHIPMENT_NOT_FOUND")
    other_seller = as_seller(str(uuid.uuid4()))
    assert (await failure(stub.GetShipment(pb.GetShipmentRequest(id=shipment.id), metadata=other_seller)))[
        1
    ] == ("SHIPMENT_NOT_FOUND")
    assert (await stub.GetShipment(pb.GetShipmentRequest(id=shipment.id), metadata=as_admin())).shipment.id


async def test_booking_is_refused_for_another_shop_an_unknown_rate_or_bad_contacts(stub: Stub) -> None:
    rate = (await stub.QuoteShippingRates(quote(couriers=["jne"]))).rates[0]
    shop = str(uuid.uuid4())
    good = pb.CreateShipmentRequest(
        order_id=str(uuid.uuid4()),
        shop_id=shop,
        buyer_id="buyer-1",
        rate_id=rate.id,
        sender=contact(BANDUNG),
        recipient=contact(SURABAYA),
    )

    other_shop = await failure(stub.CreateShipment(good, metadata=as_seller(str(uuid.uuid4()))))
    unknown = pb.CreateShipmentRequest()
    unknown.CopyFrom(good)
    unknown.rate_id = str(uuid.uuid4())
    bad = pb.CreateShipmentRequest()
    bad.CopyFrom(good)
    bad.recipient.phone = "0812"
    bad.recipient.place.district = ""
    bad.sender.name = " "

    assert other_shop[:2] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_SHOP_OWNER")
    assert (await failure(stub.CreateShipment(unknown, metadata=as_seller(shop))))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "RATE_NOT_FOUND",
    )
    assert (await failure(stub.CreateShipment(bad, metadata=as_seller(shop))))[2] == [
        "sender.name",
        "recipient.phone",
        "recipient.place.district",
    ]
    assert (await failure(stub.CreateShipment(good, metadata=as_user())))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED


async def test_a_forged_stale_or_replayed_webhook_changes_nothing(
    stub: Stub, webhooks: httpx.AsyncClient, database: Database
) -> None:
    shop = str(uuid.uuid4())
    shipment = await book(stub, shop)
    body = orjson.dumps(
        {"waybill": shipment.waybill, "status": "RECEIVED AT ORIGIN", "time": "2026-12-03T01:00:00Z"}
    )
    now = str(int(time.time()))

    def headers(timestamp: str, event_id: str, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
        return {
            "x-courier-event-id": event_id,
            "x-courier-timestamp": timestamp,
            "x-courier-signature": signature_of(secret, timestamp, body),
        }

    forged = await webhooks.post("/jne", content=body, headers=headers(now, "e-1", secret="guess"))
    stale_time = str(int(time.time()) - 600)
    stale = await webhooks.post("/jne", content=body, headers=headers(stale_time, "e-2"))
    assert (forged.status_code, forged.json()["reason"]) == (401, "BAD_SIGNATURE")
    assert (stale.status_code, stale.json()["reason"]) == (401, "STALE_TIMESTAMP")
    assert await _events(database, shipment.id) == {"toko.shipping.v1.ShipmentBooked": 1}

    taken = await webhooks.post("/jne", content=body, headers=headers(now, "e-3"))
    replayed = await webhooks.post("/jne", content=body, headers=headers(now, "e-3"))
    assert taken.status_code == 200
    assert (replayed.status_code, replayed.json()["reason"]) == (409, "DUPLICATE_EVENT")
    assert await _events(database, shipment.id) == {
        "toko.shipping.v1.ShipmentBooked": 1,
        "toko.shipping.v1.ShipmentStatusChanged": 1,
    }
    unknown = orjson.dumps({"waybill": "JN0", "status": "DELIVERED", "time": "2026-12-03T01:00:00Z"})
    answer = await webhooks.post(
        "/jne",
        content=unknown,
        headers={
            "x-courier-event-id": "e-4",
            "x-courier-timestamp": now,
            "x-courier-signature": signature_of(WEBHOOK_SECRET, now, unknown),
        },
    )
    assert (answer.status_code, answer.json()["reason"]) == (404, "UNKNOWN_WAYBILL")


async def test_the_last_place_of_a_slot_goes_to_exactly_one_of_many_racing_bookings(stub: Stub) -> None:
    # Given a same-day rate within Bandung and a slot of it (five places), four of them booked
    within = pb.Place(province="Jawa Barat", city="Bandung", district="Sukajadi")
    rates = (await stub.QuoteShippingRates(quote(BANDUNG, within, couriers=["gosend"]))).rates
    same_day = next(rate for rate in rates if rate.service == "SAMEDAY")
    slots = (
        await stub.ListDeliverySlots(
            pb.ListDeliverySlotsRequest(courier="gosend", service="SAMEDAY", city="Bandung")
        )
    ).slots
    slot = slots[0]
    shop = str(uuid.uuid4())

    def booking() -> pb.CreateShipmentRequest:
        return pb.CreateShipmentRequest(
            order_id=str(uuid.uuid4()),
            shop_id=shop,
            buyer_id="buyer-1",
            rate_id=same_day.id,
            sender=contact(BANDUNG),
            recipient=contact(within),
            slot_id=slot.id,
        )

    for _ in range(slot.capacity_left - 1):
        await stub.CreateShipment(booking(), metadata=as_seller(shop))

    # When eight bookings race for the last place
    results = await asyncio.gather(
        *(stub.CreateShipment(booking(), metadata=as_seller(shop)) for _ in range(8)), return_exceptions=True
    )

    # Then exactly one gets it, the others are told the slot is full, and none is left
    won = [result for result in results if isinstance(result, pb.CreateShipmentResponse)]
    lost = [result for result in results if isinstance(result, grpc.aio.AioRpcError)]
    assert len(won) == 1
    assert {error.code() for error in lost} == {grpc.StatusCode.FAILED_PRECONDITION}
    again = (
        await stub.ListDeliverySlots(
            pb.ListDeliverySlotsRequest(courier="gosend", service="SAMEDAY", city="Bandung")
        )
    ).slots
    assert next(s for s in again if s.id == slot.id).capacity_left == 0
    # And a slotted rate without a slot is refused
    no_slot = booking()
    no_slot.slot_id = ""
    assert (await failure(stub.CreateShipment(no_slot, metadata=as_seller(shop))))[1] == "SLOT_REQUIRED"


async def test_slots_need_a_known_slotted_service_and_a_real_date(stub: Stub) -> None:
    unknown = pb.ListDeliverySlotsRequest(courier="pos", service="X", city="Bandung")
    regular = pb.ListDeliverySlotsRequest(courier="jne", service="REG", city="Bandung")
    bad_date = pb.ListDeliverySlotsRequest(courier="gosend", service="INSTANT", city=" ", date="tomorrow")

    assert (await failure(stub.ListDeliverySlots(unknown)))[1:] == ("UNKNOWN_COURIER", ["courier"])
    assert (await failure(stub.ListDeliverySlots(regular)))[1:] == ("SERVICE_NOT_SLOTTED", ["service"])
    assert (await failure(stub.ListDeliverySlots(bad_date)))[2] == ["city", "date"]


async def _events(database: Database, shipment_id: str) -> dict[str, int]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(outbox.c.type, func.count())
            .where(outbox.c.aggregate == shipment_id)
            .group_by(outbox.c.type)
        )
    return {row[0]: row[1] for row in rows}


async def test_the_buyer_moves_a_slotted_delivery_to_another_slot_until_pickup(
    stub: Stub, couriers: httpx.AsyncClient, database: Database
) -> None:
    # Given a same-day shipment in tomorrow's first slot, booked by the seller for a buyer
    within = pb.Place(province="Jawa Barat", city="Bandung", district="Cidadap")
    rates = (await stub.QuoteShippingRates(quote(BANDUNG, within, couriers=["gosend"]))).rates
    same_day = next(rate for rate in rates if rate.service == "SAMEDAY")
    days = [(datetime.now(WIB) + timedelta(days=n)).date().isoformat() for n in (1, 2)]

    async def slots() -> dict[str, pb.DeliverySlot]:
        found: dict[str, pb.DeliverySlot] = {}
        for day in days:
            asked = pb.ListDeliverySlotsRequest(courier="gosend", service="SAMEDAY", city="Bandung", date=day)
            found |= {slot.id: slot for slot in (await stub.ListDeliverySlots(asked)).slots}
        return found

    first, second, third = list(await slots())[:3]
    capacity = (await slots())[first].capacity_left
    shop, buyer = str(uuid.uuid4()), str(uuid.uuid4())

    def booking(slot_id: str) -> pb.CreateShipmentRequest:
        return pb.CreateShipmentRequest(
            order_id=str(uuid.uuid4()),
            shop_id=shop,
            buyer_id=buyer,
            rate_id=same_day.id,
            sender=contact(BANDUNG),
            recipient=contact(within),
            slot_id=slot_id,
        )

    shipment = (await stub.CreateShipment(booking(first), metadata=as_seller(shop))).shipment
    before = await slots()

    # When the buyer moves it to the second slot
    moved = (
        await stub.RescheduleShipment(
            pb.RescheduleShipmentRequest(id=shipment.id, slot_id=second), metadata=as_user(buyer)
        )
    ).shipment

    # Then it is in the second slot, the first has its place back, and the courier was told
    assert moved.slot.id == second
    after = await slots()
    assert after[first].capacity_left == before[first].capacity_left + 1 == capacity
    assert after[second].capacity_left == before[second].capacity_left - 1
    parcel = (await couriers.get(f"/gosend/track/{shipment.waybill}")).json()
    assert parcel["slot_id"] == second
    assert (await _events(database, shipment.id))["toko.shipping.v1.ShipmentRescheduled"] == 1

    # And the seller may not move it, a stranger does not see it, and a full slot is refused
    seller = await failure(
        stub.RescheduleShipment(
            pb.RescheduleShipmentRequest(id=shipment.id, slot_id=first), metadata=as_seller(shop)
        )
    )
    assert seller[:2] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_THE_BUYER")
    stranger = await failure(
        stub.RescheduleShipment(
            pb.RescheduleShipmentRequest(id=shipment.id, slot_id=first), metadata=as_user()
        )
    )
    assert stranger[:2] == (grpc.StatusCode.NOT_FOUND, "SHIPMENT_NOT_FOUND")
    for _ in range((await slots())[third].capacity_left):
        await stub.CreateShipment(booking(third), metadata=as_seller(shop))
    full = await failure(
        stub.RescheduleShipment(
            pb.RescheduleShipmentRequest(id=shipment.id, slot_id=third), metadata=as_user(buyer)
        )
    )
    assert full[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "SLOT_FULL")
    kept = (await stub.GetShipment(pb.GetShipmentRequest(id=shipment.id), metadata=as_user(buyer))).shipment
    assert kept.slot.id == second
    assert (await slots())[second].capacity_left == after[second].capacity_left

    # And once the driver has picked it up, its slot is fixed
    assert (await couriers.post(f"/gosend/shipments/{shipment.waybill}:advance")).status_code == 200
    picked = await failure(
        stub.RescheduleShipment(
            pb.RescheduleShipmentRequest(id=shipment.id, slot_id=first), metadata=as_user(buyer)
        )
    )
    assert picked[1] in {"ALREADY_PICKED_UP", "COURIER_REFUSED"}


async def test_a_shipment_without_a_slot_cannot_be_rescheduled(stub: Stub) -> None:
    buyer_shop = str(uuid.uuid4())
    shipment = await book(stub, buyer_shop)
    refused = await failure(
        stub.RescheduleShipment(
            pb.RescheduleShipmentRequest(id=shipment.id, slot_id="SAMEDAY-bandung-202701011000"),
            metadata=as_user("buyer-1"),
        )
    )
    assert refused[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "SERVICE_NOT_SLOTTED")
