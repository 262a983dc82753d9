"""The whole purchase, as a buyer and a seller do it through the gateway, with the sandbox's payment
provider and courier: browse → cart → checkout quote → place → pay a virtual account (watched over
Server-Sent Events) → the seller accepts and ships → the courier's webhooks deliver it → completed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from test_accounts import signed_in

if TYPE_CHECKING:
    from conftest import Platform


def _eventually(
    read: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool], seconds: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _sandbox(platform: Platform) -> str:
    return f"http://127.0.0.1:{platform.env['TOKO_SANDBOX_PORT']}"


def _a_product_in_stock(client: httpx.Client, shop_id: str, headers: dict[str, str]) -> dict[str, Any]:
    products = client.get("/v1/products", params={"shopId": shop_id, "pageSize": 50}).json()["products"]
    for product in products:
        for sku in product["skus"]:
            stock = client.get(f"/v1/skus/{sku['id']}/stock", headers=headers).json()
            if int(stock.get("available", 0)) >= 2:
                return {"product": product, "sku_id": sku["id"]}
    raise AssertionError(f"no product of shop {shop_id} is in stock")


def _watch(
    platform: Platform, token: str, payment_id: str, seen: list[dict[str, Any]], stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    with (
        httpx.Client(base_url=platform.base_url, timeout=60) as client,
        client.stream("GET", f"/v1/payments/{payment_id}:watch", headers=headers) as response,
    ):
        for line in response.iter_lines():
            if line.startswith("data: "):
                seen.append(orjson.loads(line[6:]))
                if seen[-1]["payment"]["state"] == "PAYMENT_STATE_CAPTURED" or stop.is_set():
                    return


def test_a_buyer_pays_a_virtual_account_and_the_seller_ships_it_to_completion(platform: Platform) -> None:
    seller, buyer = platform.account("seller"), platform.account("buyer")
    buyer_token = signed_in(platform, "--user", buyer["email"])
    seller_token = signed_in(platform, "--user", seller["email"])
    as_buyer = {"Authorization": f"Bearer {buyer_token}"}
    as_seller = {"Authorization": f"Bearer {seller_token}"}
    with platform.client() as client:
        # Browse: a product of the seller's shop, in stock
        found = _a_product_in_stock(client, seller["shop_id"], as_seller)
        product, sku_id = found["product"], found["sku_id"]

        # Cart: two units, then the buyer's address and the shop's shipping options
        added = client.post(
            "/v1/carts/me/lines",
            json={"skuId": sku_id, "quantity": 2},
            headers=as_buyer | {"Idempotency-Key": str(uuid.uuid4())},
        )
        assert added.status_code == 200, added.text
        address = client.get(f"/v1/users/{buyer['user_id']}/addresses", headers=as_buyer).json()["addresses"][
            0
        ]
        shop = client.get(f"/v1/shops/{seller['shop_id']}").json()["shop"]
        rates = client.post(
            "/v1/shipping-rates:quote",
            json={
                "origin": {"city": shop["originCity"]},
                "destination": {
                    "province": address["province"],
                    "city": address["city"],
                    "district": address["district"],
                    "postalCode": address["postalCode"],
                },
                "items": [{"weightGrams": product.get("weightGrams") or 500, "quantity": 2}],
            },
        ).json()["rates"]
        rate = next(r for r in rates if not r.get("slotted"))

        # Checkout: a quote, then placing it (a retry with the same key is the same checkout)
        quote = client.post(
            "/v1/checkout:quote",
            json={
                "lines": [{"skuId": sku_id, "quantity": 2}],
                "addressId": address["id"],
                "shipping": [{"shopId": seller["shop_id"], "rateId": rate["id"]}],
                "paymentMethod": "PAYMENT_METHOD_VA_BCA",
                "cartId": "me",
            },
            headers=as_buyer,
        )
        assert quote.status_code == 200, quote.text
        quote_id = quote.json()["quote"]["id"]
        key = {"Idempotency-Key": str(uuid.uuid4())}
        placed = client.post("/v1/checkouts", json={"quoteId": quote_id}, headers=as_buyer | key)
        assert placed.status_code == 200, placed.text
        again = client.post("/v1/checkouts", json={"quoteId": quote_id}, headers=as_buyer | key)
        checkout = placed.json()["checkout"]
        assert again.json()["checkout"]["id"] == checkout["id"]
        assert checkout["state"] == "CHECKOUT_STATE_AWAITING_PAYMENT"
        payment = checkout["payment"]
        assert payment["instructions"]["vaNumber"]
        (order_id,) = checkout["orderIds"]

        # The checked-out line leaves the cart
        cart = _eventually(
            lambda: client.get("/v1/carts/me", headers=as_buyer).json()["cart"],
            lambda c: all(line["skuId"] != sku_id for s in c.get("shops", []) for line in s["lines"]),
        )
        assert all(line["skuId"] != sku_id for s in cart.get("shops", []) for line in s["lines"])

        # Pay: the buyer watches the payment while paying the VA on the provider's page
        seen: list[dict[str, Any]] = []
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(platform, buyer_token, payment["id"], seen, stop))
        watcher.start()
        paid = httpx.post(
            f"{_sandbox(platform)}/payments/simulate/{payment['id']}",
            json={"outcome": "pay"},
            timeout=10,
        )
        assert paid.status_code < 300, paid.text
        watcher.join(30)
        stop.set()
        assert seen
        assert seen[-1]["payment"]["state"] == "PAYMENT_STATE_CAPTURED"

        order = _eventually(
            lambda: client.get(f"/v1/orders/{order_id}", headers=as_buyer).json()["order"],
            lambda o: o["state"] == "ORDER_STATE_PAID",
        )
        assert order["state"] == "ORDER_STATE_PAID"

        # The seller sees it, accepts it and ships it
        incoming = client.get("/v1/orders", params={"shopId": seller["shop_id"]}, headers=as_seller).json()
        assert order_id in {o["id"] for o in incoming["orders"]}
        accepted = client.post(f"/v1/orders/{order_id}:accept", json={}, headers=as_seller)
        assert accepted.json()["order"]["state"] == "ORDER_STATE_ACCEPTED", accepted.text
        shipped = client.post(
            f"/v1/orders/{order_id}:ship",
            json={"pickupStreet": "Jl. Braga 10", "pickupPhone": "+6281234567890"},
            headers=as_seller,
        )
        assert shipped.status_code == 200, shipped.text
        shipped_order = shipped.json()["order"]
        assert shipped_order["state"] == "ORDER_STATE_SHIPPED"

        # The courier carries it; its webhooks deliver the order
        courier, waybill = rate["courier"], shipped_order["waybill"]
        for _ in range(4):
            advanced = httpx.post(
                f"{_sandbox(platform)}/couriers/{courier}/shipments/{waybill}:advance", timeout=10
            )
            assert advanced.status_code == 200, advanced.text
        delivered = _eventually(
            lambda: client.get(f"/v1/orders/{order_id}", headers=as_buyer).json()["order"],
            lambda o: o["state"] == "ORDER_STATE_DELIVERED",
        )
        assert delivered["state"] == "ORDER_STATE_DELIVERED"
        assert delivered["deadline"]["action"] == "AUTO_COMPLETE"

        # The buyer confirms it: completed, with every step on its timeline
        completed = client.post(f"/v1/orders/{order_id}:complete", json={}, headers=as_buyer)
        assert completed.json()["order"]["state"] == "ORDER_STATE_COMPLETED", completed.text
        states = [entry["state"] for entry in completed.json()["order"]["timeline"]]
        assert states == [
            "ORDER_STATE_AWAITING_PAYMENT",
            "ORDER_STATE_PAID",
            "ORDER_STATE_ACCEPTED",
            "ORDER_STATE_SHIPPED",
            "ORDER_STATE_DELIVERED",
            "ORDER_STATE_COMPLETED",
        ]

        # And nobody else sees the order
        other = platform.account("buyer", 1)
        other_token = signed_in(platform, "--user", other["email"])
        hidden = client.get(f"/v1/orders/{order_id}", headers={"Authorization": f"Bearer {other_token}"})
        assert hidden.status_code == 404
