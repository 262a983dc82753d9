"""Checkout and orders under bad input, retries, races and other people's hands, through the gateway
with the sandbox's provider: each refusal a clear 4xx with its reason, and nothing half-written."""

from __future__ import annotations

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import httpx
import orjson
from test_accounts import signed_in

if TYPE_CHECKING:
    from conftest import Platform

VA = "PAYMENT_METHOD_VA_BCA"


class Shopper:
    """A demo buyer or seller signed in, with a client on the gateway."""

    def __init__(self, platform: Platform, role: str, index: int = 0) -> None:
        self.account = platform.account(role, index)
        self.headers = {"Authorization": f"Bearer {signed_in(platform, '--user', self.account['email'])}"}
        self.client = httpx.Client(base_url=platform.base_url, timeout=30, headers=self.headers)

    def address(self) -> dict[str, Any]:
        return dict(self.client.get(f"/v1/users/{self.account['user_id']}/addresses").json()["addresses"][0])


def _sandbox(platform: Platform) -> str:
    return f"http://127.0.0.1:{platform.env['TOKO_SANDBOX_PORT']}"


def _stocked_skus(seller: Shopper, count: int) -> list[tuple[dict[str, Any], str, int]]:
    """``count`` different SKUs of the seller's shop with 3 or more units available, read in one pass (two
    passes could name one SKU twice while the demo's opening stock is still arriving); waits for it."""
    deadline = time.monotonic() + 60
    while True:
        found: list[tuple[dict[str, Any], str, int]] = []
        shop = {"shopId": seller.account["shop_id"], "pageSize": 50}
        for product in seller.client.get("/v1/products", params=shop).json()["products"]:
            for sku in product["skus"]:
                available = int(seller.client.get(f"/v1/skus/{sku['id']}/stock").json().get("available", 0))
                if available >= 3:
                    found.append((product, sku["id"], available))
                    if len(found) == count:
                        return found
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} stocked SKUs in shop {shop['shopId']}")
        time.sleep(1)


def _stocked_sku(seller: Shopper, *, skip: int = 0) -> tuple[dict[str, Any], str, int]:
    return _stocked_skus(seller, skip + 1)[skip]


def _rates(buyer: Shopper, seller: Shopper | str, weight_grams: int = 500) -> list[dict[str, Any]]:
    """The rates quoted from the seller's shop city (or a shop's, by id) to the buyer's first address."""
    shop_id = seller if isinstance(seller, str) else seller.account["shop_id"]
    shop = buyer.client.get(f"/v1/shops/{shop_id}").json()["shop"]
    address = buyer.address()
    return list(
        buyer.client.post(
            "/v1/shipping-rates:quote",
            json={
                "origin": {"city": shop["originCity"]},
                "destination": {k: address[k] for k in ("province", "city", "district", "postalCode")},
                "items": [{"weightGrams": weight_grams, "quantity": 1}],
            },
        ).json()["rates"]
    )


def _rate(buyer: Shopper, seller: Shopper, product: dict[str, Any]) -> str:
    rates = _rates(buyer, seller, product.get("weightGrams") or 500)
    return str(next(rate["id"] for rate in rates if not rate.get("slotted")))


def _quote(
    buyer: Shopper, seller: Shopper, product: dict[str, Any], sku_id: str, quantity: int, **extra: Any
) -> httpx.Response:
    body = {
        "lines": [{"skuId": sku_id, "quantity": quantity}],
        "addressId": buyer.address()["id"],
        "shipping": [{"shopId": seller.account["shop_id"], "rateId": _rate(buyer, seller, product)}],
        "paymentMethod": VA,
    } | extra
    return buyer.client.post("/v1/checkout:quote", json=body)


def _place(buyer: Shopper, quote_id: str, key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key or str(uuid.uuid4())}
    return buyer.client.post("/v1/checkouts", json={"quoteId": quote_id}, headers=headers)


def _problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    document: dict[str, Any] = response.json()
    assert document["reason"] == reason, document
    return document


def _until(read: Any, done: Any, seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def test_a_retried_checkout_is_one_checkout_and_one_payment(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 1), Shopper(platform, "seller")
    product, sku_id, _ = _stocked_sku(seller)
    quote = _quote(buyer, seller, product, sku_id, 1).json()["quote"]
    key = str(uuid.uuid4())

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: _place(buyer, quote["id"], key), range(4)))

    placed = [a.json()["checkout"] for a in answers if a.status_code == 200]
    assert placed, [a.text for a in answers]
    assert {c["id"] for c in placed} == {placed[0]["id"]}
    assert {c["payment"]["id"] for c in placed} == {placed[0]["payment"]["id"]}
    # A retry still running is told so (409); any other answer is the same checkout.
    assert all(a.status_code in (200, 409) for a in answers)
    assert _place(buyer, quote["id"], key).json()["checkout"]["id"] == placed[0]["id"]
    # Placing the same quote again without the key is the same checkout too.
    assert _place(buyer, quote["id"]).json()["checkout"]["id"] == placed[0]["id"]
    # The same key on another quote is refused as the IETF draft says.
    other = _quote(buyer, seller, product, sku_id, 2).json()["quote"]
    _problem(_place(buyer, other["id"], key), 422, "IDEMPOTENCY_KEY_REUSED")


def test_a_changed_price_answers_quote_changed_and_creates_nothing(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 2), Shopper(platform, "seller")
    product, sku_id, _ = _stocked_sku(seller, skip=1)
    quote = _quote(buyer, seller, product, sku_id, 1).json()["quote"]
    admin = {"Authorization": f"Bearer {platform.scripts_token('catalog.write admin')}"}
    current = buyer.client.get(f"/v1/products/{product['id']}").json()["product"]
    skus = [
        sku | {"price": {"amount": str(int(sku["price"]["amount"]) + 1000), "currency": "IDR"}}
        if sku["id"] == sku_id
        else sku
        for sku in current["skus"]
    ]
    changed = httpx.patch(
        f"{platform.base_url}/v1/products/{product['id']}",
        params={"updateMask": "skus"},
        json={"id": product["id"], "skus": skus, "version": current.get("version")},
        headers=admin,
        timeout=30,
    )
    assert changed.status_code == 200, changed.text

    new_price = next(str(int(sku["price"]["amount"])) for sku in skus if sku["id"] == sku_id)
    _until(
        lambda: buyer.client.get(f"/v1/products/{product['id']}").json()["product"]["skus"],
        lambda seen: any(s["id"] == sku_id and s["currentPrice"]["amount"] == new_price for s in seen),
    )

    problem = _problem(_place(buyer, quote["id"]), 400, "QUOTE_CHANGED")

    assert "unit price" in problem["detail"] or problem["reason"] == "QUOTE_CHANGED"
    listed = buyer.client.get("/v1/orders").json().get("orders", [])
    assert not [o for o in listed if o["details"]["lines"][0]["skuId"] == sku_id]


def test_out_of_stock_refuses_and_releases_what_was_held(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 3), Shopper(platform, "seller")
    product, sku_id, available = _stocked_sku(seller, skip=2)
    too_many = min(available + 1, 999)
    quote = _quote(buyer, seller, product, sku_id, too_many).json()["quote"]

    _problem(_place(buyer, quote["id"]), 400, "INSUFFICIENT_STOCK")

    # Nothing stays held: the stock is all still there to buy.
    after = int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0))
    assert after == available


def test_buyers_racing_for_the_last_units_get_exactly_one_checkout(platform: Platform) -> None:
    seller = Shopper(platform, "seller")
    buyers = [Shopper(platform, "buyer", n) for n in range(4)]
    product, sku_id, available = _stocked_sku(seller, skip=3)
    quotes = [_quote(buyer, seller, product, sku_id, available).json()["quote"]["id"] for buyer in buyers]

    with ThreadPoolExecutor(len(buyers)) as pool:
        answers = list(pool.map(lambda pair: _place(*pair), zip(buyers, quotes, strict=True)))

    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400], [a.text for a in answers]
    assert {a.json()["reason"] for a in answers if a.status_code != 200} == {"INSUFFICIENT_STOCK"}
    assert int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0)) == 0


def test_nobody_else_sees_or_moves_an_order_and_a_paid_cancellation_is_refunded(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 4), Shopper(platform, "seller")
    stranger, other_seller = Shopper(platform, "buyer", 0), Shopper(platform, "seller", 1)
    product, sku_id, before = _stocked_sku(seller, skip=4)
    checkout = _place(buyer, _quote(buyer, seller, product, sku_id, 1).json()["quote"]["id"]).json()[
        "checkout"
    ]
    (order_id,) = checkout["orderIds"]
    payment = checkout["payment"]

    for outsider in (stranger, other_seller):
        _problem(outsider.client.get(f"/v1/orders/{order_id}"), 404, "ORDER_NOT_FOUND")
        _problem(
            outsider.client.post(f"/v1/orders/{order_id}:cancel", json={"reason": "x"}),
            404,
            "ORDER_NOT_FOUND",
        )
        _problem(outsider.client.get(f"/v1/checkouts/{checkout['id']}"), 404, "CHECKOUT_NOT_FOUND")
        _problem(outsider.client.get(f"/v1/payments/{payment['id']}"), 404, "PAYMENT_NOT_FOUND")
    _problem(
        other_seller.client.get("/v1/orders", params={"shopId": seller.account["shop_id"]}),
        403,
        "NOT_THE_SELLER",
    )
    _problem(buyer.client.post(f"/v1/orders/{order_id}:accept", json={}), 403, "NOT_THE_SELLER")

    paid = httpx.post(
        f"{_sandbox(platform)}/payments/simulate/{payment['id']}", json={"outcome": "pay"}, timeout=10
    )
    assert paid.status_code == 200
    _until(
        lambda: buyer.client.get(f"/v1/orders/{order_id}").json()["order"],
        lambda o: o["state"] == "ORDER_STATE_PAID",
    )

    cancelled = buyer.client.post(f"/v1/orders/{order_id}:cancel", json={"reason": "salah pilih warna"})
    assert cancelled.status_code == 200, cancelled.text
    order = cancelled.json()["order"]
    assert order["state"] == "ORDER_STATE_CANCELLED"
    assert order["refunded"]["amount"] == order["details"]["total"]["amount"]
    ledger = buyer.client.get(f"/v1/payments/{payment['id']}/ledger").json()["entries"]
    assert [e["kind"] for e in ledger] == ["LEDGER_ENTRY_KIND_CAPTURED", "LEDGER_ENTRY_KIND_REFUNDED"]
    # It never left the shop: its unit is back on sale, as before the checkout.
    assert int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0)) == before
    # Cancelling again changes nothing and refunds nothing twice.
    _problem(buyer.client.post(f"/v1/orders/{order_id}:cancel", json={}), 400, "ORDER_NOT_CANCELLABLE")
    assert len(buyer.client.get(f"/v1/payments/{payment['id']}/ledger").json()["entries"]) == 2
    assert int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0)) == before


def test_a_forged_replayed_or_short_paid_notification_moves_nothing(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 0), Shopper(platform, "seller", 1)
    product, sku_id, _ = _stocked_sku(seller)
    checkout = _place(buyer, _quote(buyer, seller, product, sku_id, 1).json()["quote"]["id"]).json()[
        "checkout"
    ]
    payment = checkout["payment"]
    webhook = f"{platform.base_url}/webhooks/payments/midtrans"
    forged = {
        "order_id": payment["id"],
        "status_code": "200",
        "gross_amount": f"{payment['amount']['amount']}.00",
        "transaction_status": "settlement",
        "transaction_time": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + 7 * 3600)),
        "signature_key": hashlib.sha512(b"not the server key").hexdigest(),
    }

    answer = httpx.post(webhook, content=orjson.dumps(forged), timeout=10)

    assert answer.status_code == 401
    assert answer.json()["reason"] == "BAD_SIGNATURE"
    assert (
        buyer.client.get(f"/v1/payments/{payment['id']}").json()["payment"]["state"]
        == "PAYMENT_STATE_PENDING"
    )
    # The provider reports less than owed: the payment is held for review, the orders stay unpaid.
    short = httpx.post(
        f"{_sandbox(platform)}/payments/simulate/{payment['id']}",
        json={"outcome": "pay", "amount": int(payment["amount"]["amount"]) - 1},
        timeout=10,
    )
    assert short.status_code == 200
    held = _until(
        lambda: buyer.client.get(f"/v1/payments/{payment['id']}").json()["payment"],
        lambda p: p["state"] != "PAYMENT_STATE_PENDING",
    )
    assert held["state"] == "PAYMENT_STATE_HELD_FOR_REVIEW"
    (order_id,) = checkout["orderIds"]
    assert (
        buyer.client.get(f"/v1/orders/{order_id}").json()["order"]["state"] == "ORDER_STATE_AWAITING_PAYMENT"
    )


def test_a_shipping_rate_from_elsewhere_or_a_method_not_offered_is_refused(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 1), Shopper(platform, "seller", 2)
    _, sku_id, _ = _stocked_sku(seller)
    shop_city = buyer.client.get(f"/v1/shops/{seller.account['shop_id']}").json()["shop"]["originCity"]
    elsewhere = "Kota Bandung" if "Bandung" not in shop_city else "Surabaya"
    address = buyer.address()
    cheap = buyer.client.post(
        "/v1/shipping-rates:quote",
        json={
            "origin": {"city": elsewhere},
            "destination": {k: address[k] for k in ("province", "city", "district", "postalCode")},
            "items": [{"weightGrams": 500, "quantity": 1}],
        },
    ).json()["rates"]
    body = {
        "lines": [{"skuId": sku_id, "quantity": 1}],
        "addressId": address["id"],
        "shipping": [{"shopId": seller.account["shop_id"], "rateId": cheap[0]["id"]}],
        "paymentMethod": VA,
    }

    _problem(buyer.client.post("/v1/checkout:quote", json=body), 400, "SHIPPING_OPTION_INVALID")
    someone_elses = body | {"addressId": Shopper(platform, "buyer", 2).address()["id"]}
    _problem(buyer.client.post("/v1/checkout:quote", json=someone_elses), 404, "ADDRESS_NOT_FOUND")
    unknown = body | {"lines": [{"skuId": str(uuid.uuid4()), "quantity": 1}]}
    assert buyer.client.post("/v1/checkout:quote", json=unknown).status_code in (400, 404)
    bad = body | {"lines": [{"skuId": "x", "quantity": 0}], "paymentMethod": "PAYMENT_METHOD_UNSPECIFIED"}
    problem = _problem(buyer.client.post("/v1/checkout:quote", json=bad), 400, "VALIDATION_FAILED")
    # Every field at fault at once; no payment method yet is a preview, not a fault (ADR 19).
    fields = {v["field"] for v in problem["violations"]}
    assert fields >= {"lines[0].sku_id", "lines[0].quantity"}
    assert "payment_method" not in fields
