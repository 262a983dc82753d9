"""Cash on delivery through the gateway: the seller gets the order at once, the courier collects the cash, and
delivery captures the payment; a checkout of two shops, or a service that does not collect, is refused."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
from test_checkout_rules import Shopper, _place, _problem, _rates, _sandbox, _stocked_sku, _until

if TYPE_CHECKING:
    from conftest import Platform

COD = "PAYMENT_METHOD_COD"


def test_cash_on_delivery_is_paid_to_the_courier_and_captured_on_delivery(platform: Platform) -> None:
    buyer, seller, other = (
        Shopper(platform, "buyer", 2),
        Shopper(platform, "seller", 13),
        Shopper(platform, "seller", 14),
    )
    as_seller = {"Authorization": f"Bearer {platform.scripts_token('admin')}"}
    _, sku_id, _ = _stocked_sku(seller)
    _, other_sku, _ = _stocked_sku(other)
    rates = _rates(buyer, seller)
    collecting = next(r for r in rates if r.get("codAvailable", False) and not r.get("slotted"))
    not_collecting = next(
        (r for r in rates if not r.get("codAvailable", False) and not r.get("slotted")), None
    )
    body = {
        "lines": [{"skuId": sku_id, "quantity": 1}],
        "addressId": buyer.address()["id"],
        "shipping": [{"shopId": seller.account["shop_id"], "rateId": collecting["id"]}],
        "paymentMethod": COD,
    }
    two_shops = body | {
        "lines": [{"skuId": sku_id, "quantity": 1}, {"skuId": other_sku, "quantity": 1}],
        "shipping": [
            *body["shipping"],
            {
                "shopId": other.account["shop_id"],
                "rateId": next(r["id"] for r in _rates(buyer, other) if not r.get("slotted")),
            },
        ],
    }

    _problem(buyer.client.post("/v1/checkout:quote", json=two_shops), 400, "COD_ONE_SHOP_ONLY")
    if not_collecting is not None:
        refused = body | {"shipping": [{"shopId": seller.account["shop_id"], "rateId": not_collecting["id"]}]}
        _problem(buyer.client.post("/v1/checkout:quote", json=refused), 400, "COD_NOT_AVAILABLE")
    quote = buyer.client.post("/v1/checkout:quote", json=body)
    assert quote.status_code == 200, quote.text
    placed = _place(buyer, quote.json()["quote"]["id"])
    assert placed.status_code == 200, placed.text
    checkout = placed.json()["checkout"]
    (order_id,) = checkout["orderIds"]
    order = buyer.client.get(f"/v1/orders/{order_id}").json()["order"]
    payment = buyer.client.get(f"/v1/payments/{checkout['payment']['id']}").json()["payment"]

    # The seller has the order at once; nothing is paid until the courier collects.
    assert order["state"] == "ORDER_STATE_PAID"
    assert order["timeline"][-1]["reason"] == "CASH_ON_DELIVERY"
    assert (payment["provider"], payment["state"]) == ("cod", "PAYMENT_STATE_PENDING")

    accepted = httpx.post(
        f"{platform.base_url}/v1/orders/{order_id}:accept", json={}, headers=as_seller, timeout=30
    )
    assert accepted.status_code == 200, accepted.text
    shipped = httpx.post(
        f"{platform.base_url}/v1/orders/{order_id}:ship",
        json={"pickupStreet": "Jl. Braga 10", "pickupPhone": "+6281234567890"},
        headers=as_seller,
        timeout=30,
    )
    assert shipped.status_code == 200, shipped.text
    waybill = shipped.json()["order"]["waybill"]
    for _ in range(4):
        advanced = httpx.post(
            f"{_sandbox(platform)}/couriers/{collecting['courier']}/shipments/{waybill}:advance", timeout=10
        )
        assert advanced.status_code == 200, advanced.text
    delivered = _until(
        lambda: buyer.client.get(f"/v1/orders/{order_id}").json()["order"],
        lambda o: o["state"] == "ORDER_STATE_DELIVERED",
        60,
    )
    captured = buyer.client.get(f"/v1/payments/{payment['id']}").json()["payment"]
    ledger = buyer.client.get(f"/v1/payments/{payment['id']}/ledger").json()["entries"]

    assert delivered["state"] == "ORDER_STATE_DELIVERED"
    assert (captured["state"], captured["captured"]["amount"]) == (
        "PAYMENT_STATE_CAPTURED",
        payment["amount"]["amount"],
    )
    assert [entry["kind"] for entry in ledger] == ["LEDGER_ENTRY_KIND_CAPTURED"]
