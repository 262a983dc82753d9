"""A delivery slot chosen at checkout: a full one is refused when quoted and when placed (the quote was
made while it had room), an unknown one too, and nothing is held."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import grpc
from test_checkout_rules import Shopper, _place, _problem, _rates, _stocked_sku

from toko.shipping.v1 import shipping_pb2, shipping_pb2_grpc

if TYPE_CHECKING:
    from conftest import Platform


def _slotted_pair(platform: Platform) -> tuple[Shopper, Shopper, dict[str, Any], dict[str, Any]]:
    """A buyer and a seller of one city, with the instant or same-day rate between them."""
    for seller_index in range(15, 24):
        seller = Shopper(platform, "seller", seller_index)
        shop = seller.client.get(f"/v1/shops/{seller.account['shop_id']}").json()["shop"]
        for buyer_index in range(5):
            buyer = Shopper(platform, "buyer", buyer_index)
            rates = _rates(buyer, seller)
            slotted = next((rate for rate in rates if rate.get("slotted")), None)
            if slotted is not None:
                return buyer, seller, shop, slotted
    raise AssertionError("no demo buyer lives in a demo shop's city")


def test_a_full_delivery_slot_is_refused_at_checkout_and_nothing_is_held(platform: Platform) -> None:
    buyer, seller, shop, rate = _slotted_pair(platform)
    _, sku_id, available = _stocked_sku(seller)
    slots = buyer.client.get(
        f"/v1/couriers/{rate['courier']}/services/{rate['service']}/slots",
        params={"city": shop["originCity"]},
    ).json()["slots"]
    slot = next(s for s in slots[1:] if s.get("capacityLeft", 0) > 0)
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
