"""A delivery slot chosen at checkout: a full one is refused when quoted and when placed (the quote was
made while it had room), an unknown one too, and nothing is held. A placed checkout holds its place:
two checkouts racing for a slot's last place get it once, a cancelled checkout gives it back, and the
seller's shipment takes the held place rather than another."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
from test_checkout_rules import (
    Shopper,
    _place,
    _problem,
    _rates,
    _sandbox,
    _stocked_sku,
    _stocked_skus,
    _until,
)

from toko.shipping.v1 import shipping_pb2, shipping_pb2_grpc

if TYPE_CHECKING:
    from conftest import Platform


def _slotted_pair(platform: Platform) -> tuple[Shopper, Shopper, dict[str, Any], dict[str, Any]]:
    """A buyer and a seller of one city, with the instant or same-day rate between them."""
    # Each person signs in once (a sign-in is an argon2 hash): the buyers now, the seller when found.
    buyers = [Shopper(platform, "buyer", buyer_index) for buyer_index in range(5)]
    for seller_index in range(15, 24):
        shop_id = platform.account("seller", seller_index)["shop_id"]
        for buyer in buyers:
            slotted = next((rate for rate in _rates(buyer, shop_id) if rate.get("slotted")), None)
            if slotted is not None:
                shop = buyer.client.get(f"/v1/shops/{shop_id}").json()["shop"]
                return buyer, Shopper(platform, "seller", seller_index), shop, slotted
    raise AssertionError("no demo buyer lives in a demo shop's city")


def _tomorrows_slots(buyer: Shopper, shop: dict[str, Any], rate: dict[str, Any]) -> list[dict[str, Any]]:
    """Tomorrow's windows (Western Indonesian Time): none of them begins while a test runs, whatever the hour."""
    tomorrow = (datetime.now(UTC) + timedelta(hours=7) + timedelta(days=1)).date().isoformat()
    answer = buyer.client.get(
        f"/v1/couriers/{rate['courier']}/services/{rate['service']}/slots",
        params={"city": shop["originCity"], "date": tomorrow},
    )
    assert answer.status_code == 200, answer.text
    return list(answer.json()["slots"])


def test_a_full_delivery_slot_is_refused_at_checkout_and_nothing_is_held(platform: Platform) -> None:
    buyer, seller, shop, rate = _slotted_pair(platform)
    _, sku_id, available = _stocked_sku(seller)
    slot = next(s for s in _tomorrows_slots(buyer, shop, rate)[1:] if s.get("capacityLeft", 0) > 0)
    body = {
        "lines": [{"skuId": sku_id, "quantity": 1}],
        "addressId": buyer.address()["id"],
        "shipping": [{"shopId": seller.account["shop_id"], "rateId": rate["id"], "slotId": slot["id"]}],
        "paymentMethod": "PAYMENT_METHOD_VA_BCA",
    }
    quoted = buyer.client.post("/v1/checkout:quote", json=body)
    assert quoted.status_code == 200, quoted.text

    # Other shoppers take every place left in the slot.
    home = buyer.address()
    state = json.loads((platform.data_dir / "run" / "state.json").read_text())
    address = next(s for s in state["services"] if s["name"] == "shipping")["address"]
    with grpc.insecure_channel(address) as channel:
        stub = shipping_pb2_grpc.ShippingServiceStub(channel)
        for _ in range(int(slot["capacityLeft"])):
            sender = shipping_pb2.Contact(
                name="Toko",
                phone="+6281234567000",
                street="Jl. Toko 1",
                place=shipping_pb2.Place(city=shop["originCity"]),
            )
            recipient = shipping_pb2.Contact(
                name="Pembeli Lain",
                phone="+6281234567001",
                street="Jl. Lain 1",
                place=shipping_pb2.Place(
                    province=home["province"],
                    city=home["city"],
                    district=home["district"],
                    postal_code=home["postalCode"],
                ),
            )
            stub.CreateShipment(
                shipping_pb2.CreateShipmentRequest(
                    order_id=str(uuid.uuid4()),
                    shop_id=seller.account["shop_id"],
                    buyer_id=str(uuid.uuid4()),
                    rate_id=rate["id"],
                    sender=sender,
                    recipient=recipient,
                    slot_id=slot["id"],
                ),
                metadata=(("authorization", seller.headers["Authorization"]),),
                timeout=30,
            )

    _problem(_place(buyer, quoted.json()["quote"]["id"]), 400, "DELIVERY_SLOT_FULL")
    _problem(buyer.client.post("/v1/checkout:quote", json=body), 400, "DELIVERY_SLOT_FULL")
    unknown = body | {
        "shipping": [{"shopId": seller.account["shop_id"], "rateId": rate["id"], "slotId": "no-such-slot"}]
    }
    _problem(buyer.client.post("/v1/checkout:quote", json=unknown), 400, "DELIVERY_SLOT_INVALID")
    assert int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0)) == available


def _places_left(buyer: Shopper, slot_id: str) -> int:
    answer = buyer.client.get(f"/v1/delivery-slots/{slot_id}")
    assert answer.status_code == 200, answer.text
    return int(answer.json()["slot"].get("capacityLeft", 0))


def test_a_placed_checkout_holds_its_slot_until_cancelled_or_shipped(platform: Platform) -> None:
    buyer, seller, shop, rate = _slotted_pair(platform)
    # Up to seven checkouts of one unit each: the SKU with the most units of a few.
    _, sku_id, _ = max(_stocked_skus(seller, 4), key=lambda found: found[2])
    slot = next(s for s in _tomorrows_slots(buyer, shop, rate) if int(s.get("capacityLeft", 0)) >= 2)
    body = {
        "lines": [{"skuId": sku_id, "quantity": 1}],
        "addressId": buyer.address()["id"],
        "shipping": [{"shopId": seller.account["shop_id"], "rateId": rate["id"], "slotId": slot["id"]}],
        "paymentMethod": "PAYMENT_METHOD_VA_BCA",
    }

    def placed() -> dict[str, Any]:
        quoted = buyer.client.post("/v1/checkout:quote", json=body)
        assert quoted.status_code == 200, quoted.text
        answer = _place(buyer, quoted.json()["quote"]["id"])
        assert answer.status_code == 200, answer.text
        return dict(answer.json()["checkout"])

    before = _places_left(buyer, slot["id"])
    # A placed checkout keeps a place; cancelling it (unpaid) gives the place back.
    first = placed()
    assert _places_left(buyer, slot["id"]) == before - 1
    (first_order,) = first["orderIds"]
    cancelled = buyer.client.post(f"/v1/orders/{first_order}:cancel", json={"reason": "salah alamat"})
    assert cancelled.status_code == 200, cancelled.text
    assert _until(lambda: _places_left(buyer, slot["id"]), lambda left: left == before) == before

    # Paid, accepted and shipped: the shipment takes the place held for it, not a second one.
    second = placed()
    assert _places_left(buyer, slot["id"]) == before - 1
    payment = second["payment"]
    paid = buyer.client.post(
        f"{_sandbox(platform)}/payments/simulate/{payment['id']}", json={"outcome": "pay"}
    )
    assert paid.status_code == 200, paid.text
    (order_id,) = second["orderIds"]
    _until(
        lambda: seller.client.get(f"/v1/orders/{order_id}").json()["order"]["state"],
        lambda state: state == "ORDER_STATE_PAID",
    )
    assert seller.client.post(f"/v1/orders/{order_id}:accept", json={}).status_code == 200
    shipped = seller.client.post(
        f"/v1/orders/{order_id}:ship", json={"pickupStreet": "Jl. Braga 10", "pickupPhone": "+6281234567890"}
    )
    assert shipped.status_code == 200, shipped.text
    assert _places_left(buyer, slot["id"]) == before - 1

    # Checkouts racing for the slot's last places: as many are placed as there are places, the rest
    # are refused DELIVERY_SLOT_FULL with nothing held.
    left = before - 1
    quotes = [
        buyer.client.post("/v1/checkout:quote", json=body).json()["quote"]["id"] for _ in range(left + 2)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda quote_id: _place(buyer, quote_id), quotes))
    assert sorted(a.status_code for a in answers) == [200] * left + [400, 400], [a.text for a in answers]
    assert {a.json()["reason"] for a in answers if a.status_code == 400} == {"DELIVERY_SLOT_FULL"}
    assert _places_left(buyer, slot["id"]) == 0
