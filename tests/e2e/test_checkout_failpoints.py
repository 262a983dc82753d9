"""A process of the checkout saga dies at a chosen step (a failpoint: right after a write is committed and
before anyone hears of it), and the buyer only retries as any client would: the checkout still ends with
one payment, its unit reserved once and its voucher held once, and once paid, the unit sold once and the
voucher redeemed once.

The journeys run at once, one per point, each buying from a shop of its own: a process that dies at one
point also cuts the others' calls short, as a crash would, and the supervisor's back-off between a
service's restarts is waited out once, not once per point."""

from __future__ import annotations

import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from test_checkout_rules import Shopper, _quote, _sandbox, _stocked_sku, _until

from toko.platform.failpoints import arm, armed

if TYPE_CHECKING:
    from conftest import Platform

# Each point with the demo seller whose SKU its checkout buys (one shop each: counts stay exact).
POINTS = [
    ("order.checkout.started", 5),
    ("order.checkout.vouchers_held", 6),
    ("order.checkout.stock_reserved", 7),
    ("order.checkout.orders_created", 8),
    ("order.checkout.payment_created", 9),
    ("promotion.hold.committed", 10),
    ("inventory.reserve.committed", 11),
    ("order.capture.stock_committed", 12),
    ("payment.create.written", 19),
    ("payment.create.charged", 20),
    ("payment.notification.applied", 21),
]


def _steady(request: Any) -> httpx.Response:
    """A request's answer, asked again while a service is down (the other journeys crash them)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            answer: httpx.Response = request()
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise
        else:
            if answer.status_code < 500 or time.monotonic() > deadline:
                return answer
        time.sleep(0.5)


def _stock(seller: Shopper, sku_id: str) -> tuple[int, int]:
    stock = _steady(lambda: seller.client.get(f"/v1/skus/{sku_id}/stock")).json()
    return int(stock.get("onHand", 0)), int(stock.get("available", 0))


def _voucher(platform: Platform, admin: dict[str, str], shop_id: str) -> dict[str, Any]:
    created = httpx.post(
        f"{platform.base_url}/v1/vouchers",
        json={
            "name": "Tahan Banting 5%",
            "code": f"TAHAN{uuid.uuid4().hex[:8].upper()}",
            "shopId": shop_id,
            "kind": "VOUCHER_KIND_PERCENTAGE",
            "percentBp": 500,
            "endTime": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            "totalLimit": 10,
            "perBuyerLimit": 10,
        },
        headers=admin | {"Idempotency-Key": str(uuid.uuid4())},
        timeout=30,
    )
    assert created.status_code == 200, created.text
    return dict(created.json()["voucher"])


def _counts(platform: Platform, admin: dict[str, str], voucher_id: str) -> tuple[int, int]:
    voucher = _steady(
        lambda: httpx.get(f"{platform.base_url}/v1/vouchers/{voucher_id}", headers=admin, timeout=30)
    ).json()
    return int(voucher["voucher"].get("heldCount", 0)), int(voucher["voucher"].get("redeemedCount", 0))


def _placed(buyer: Shopper, quote_id: str, key: str) -> dict[str, Any]:
    """Place the checkout, retrying with the same key through the crash until its answer is known."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            answer = buyer.client.post(
                "/v1/checkouts", json={"quoteId": quote_id}, headers={"Idempotency-Key": key}
            )
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        if answer.status_code == 200:
            return dict(answer.json()["checkout"])
        assert answer.status_code in (409, 502, 503, 504), answer.text
        time.sleep(0.5)
    raise AssertionError("the checkout's fate was not known within 180 s")


@dataclass(frozen=True)
class Journey:
    """A checkout ready to place: its buyer, its shop's seller, the SKU and voucher, the stock before."""

    point: str
    buyer: Shopper
    seller: Shopper
    sku_id: str
    voucher_id: str
    quote_id: str
    on_hand: int
    available: int


def test_a_crash_at_each_chosen_step_still_ends_with_one_checkout_paid_once(platform: Platform) -> None:
    admin = {"Authorization": f"Bearer {platform.scripts_token('admin')}"}
    # Everything up to the checkout is ready before any point is armed, a few at a time: a sign-in is an
    # argon2 hash, and the two cores are shared.
    buyers = [Shopper(platform, "buyer", n) for n in range(5)]

    def prepared(case: tuple[str, int]) -> Journey:
        point, seller_index = case
        buyer, seller = buyers[seller_index % 5], Shopper(platform, "seller", seller_index)
        product, sku_id, _ = _stocked_sku(seller)
        voucher = _voucher(platform, admin, seller.account["shop_id"])
        quoted = _quote(buyer, seller, product, sku_id, 1, vouchers=[voucher["code"]])
        assert quoted.status_code == 200, quoted.text
        assert quoted.json()["quote"]["discounts"], quoted.text
        on_hand, available = _stock(seller, sku_id)
        return Journey(
            point, buyer, seller, sku_id, voucher["id"], quoted.json()["quote"]["id"], on_hand, available
        )

    with ThreadPoolExecutor(3) as pool:
        journeys = list(pool.map(prepared, POINTS))

    def crashed(journey: Journey) -> str:
        try:
            _crash_and_check(platform, journey, admin)
        except Exception:
            return f"{journey.point}: {traceback.format_exc()}"
        return ""

    with ThreadPoolExecutor(len(journeys)) as pool:
        failures = [failure for failure in pool.map(crashed, journeys) if failure]

    assert not failures, "\n".join(failures)


def _crash_and_check(platform: Platform, journey: Journey, admin: dict[str, str]) -> None:
    failpoints = platform.data_dir / "failpoints"
    point, buyer, seller, sku_id = journey.point, journey.buyer, journey.seller, journey.sku_id
    on_hand, available = journey.on_hand, journey.available
    # The capture's points are armed once the checkout is placed: they come after it.
    later = point.startswith(("order.capture", "payment.notification"))
    if not later:
        arm(failpoints, point)
    checkout = _placed(buyer, journey.quote_id, str(uuid.uuid4()))
    # Generous waits: the supervisor's back-off between one service's restarts grows with each crash.
    held = _until(lambda: _counts(platform, admin, journey.voucher_id), lambda c: c == (1, 0), 120)
    reserved = _until(lambda: _stock(seller, sku_id), lambda s: s == (on_hand, available - 1), 120)
    if later:
        arm(failpoints, point)
    pay_url = f"{_sandbox(platform)}/payments/simulate/{checkout['payment']['id']}"
    paid = _steady(lambda: httpx.post(pay_url, json={"outcome": "pay"}, timeout=10))
    assert paid.status_code == 200, paid.text
    (order_id,) = checkout["orderIds"]
    order = _until(
        lambda: _steady(lambda: buyer.client.get(f"/v1/orders/{order_id}")).json().get("order", {}),
        lambda o: o.get("state") == "ORDER_STATE_PAID",
        120,
    )
    redeemed = _until(lambda: _counts(platform, admin, journey.voucher_id), lambda c: c == (0, 1), 120)

    assert not armed(failpoints, point), f"nothing passed {point}"
    assert held == (1, 0)
    assert reserved == (on_hand, available - 1)
    assert order["state"] == "ORDER_STATE_PAID"
    assert redeemed == (0, 1)
    assert _stock(seller, sku_id) == (on_hand - 1, available - 1)
    listed = _steady(lambda: buyer.client.get(f"/v1/checkouts/{checkout['id']}")).json()["checkout"]
    assert listed["payment"]["id"] == checkout["payment"]["id"]
