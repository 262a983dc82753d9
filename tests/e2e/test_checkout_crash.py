"""A service of the checkout saga (order, inventory, promotion, payment) killed (SIGKILL) while
checkouts are being placed: every checkout still ends awaiting payment (stock reserved, a payment
opened) or cancelled (nothing held), none in between, and the stock reserved is exactly what the
placed checkouts hold."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from test_checkout_rules import Shopper, _quote, _stocked_sku

if TYPE_CHECKING:
    from conftest import Platform

CHECKOUTS_PER_BUYER = 3


def _pid(platform: Platform, service: str) -> int:
    state = json.loads((platform.data_dir / "run" / "state.json").read_text())
    return int(next(s for s in state["services"] if s["name"] == service)["pid"])


def _available(seller: Shopper, sku_id: str) -> int:
    return int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0))


@pytest.mark.parametrize(
    ("service", "skip"), [("order", 5), ("inventory", 6), ("promotion", 7), ("payment", 8)]
)
def test_killing_a_service_mid_checkout_leaves_every_checkout_whole(
    platform: Platform, service: str, skip: int
) -> None:
    seller = Shopper(platform, "seller", 3)
    buyers = [Shopper(platform, "buyer", n) for n in range(5)]
    product, sku_id, before = _stocked_sku(seller, skip=skip)
    attempts: list[tuple[Shopper, str, str]] = []
    for buyer in buyers:
        for _ in range(CHECKOUTS_PER_BUYER):
            quote = _quote(buyer, seller, product, sku_id, 1)
            assert quote.status_code == 200, quote.text
            attempts.append((buyer, quote.json()["quote"]["id"], str(uuid.uuid4())))
    started = threading.Barrier(len(attempts) + 1)

    def place(buyer: Shopper, quote_id: str, key: str) -> None:
        started.wait()
        # The process may die under the call: the buyer retries below, as a client would.
        with contextlib.suppress(httpx.HTTPError):
            buyer.client.post("/v1/checkouts", json={"quoteId": quote_id}, headers={"Idempotency-Key": key})

    threads = [threading.Thread(target=place, args=attempt) for attempt in attempts]
    for thread in threads:
        thread.start()
    started.wait()
    time.sleep(0.15)
    os.kill(_pid(platform, service), signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=60)

    # Each buyer retries with the same key until the checkout's fate is known.
    final: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 120
    while len(final) < len(attempts) and time.monotonic() < deadline:
        for buyer, quote_id, key in attempts:
            if quote_id in final:
                continue
            try:
                answer = buyer.client.post(
                    "/v1/checkouts", json={"quoteId": quote_id}, headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError:
                continue
            if answer.status_code == 200 and answer.json()["checkout"]["state"] != "CHECKOUT_STATE_PLACING":
                final[quote_id] = answer.json()["checkout"]
            elif answer.status_code == 400:
                final[quote_id] = {"state": "CHECKOUT_STATE_CANCELLED", "reason": answer.json()["reason"]}
        time.sleep(0.5)

    assert len(final) == len(attempts), f"{len(attempts) - len(final)} checkouts never settled"
    states = [checkout["state"] for checkout in final.values()]
    assert set(states) <= {"CHECKOUT_STATE_AWAITING_PAYMENT", "CHECKOUT_STATE_CANCELLED"}
    placed = [c for c in final.values() if c["state"] == "CHECKOUT_STATE_AWAITING_PAYMENT"]
    assert all(c["payment"]["id"] and len(c["orderIds"]) == 1 for c in placed)
    # Exactly the placed checkouts hold stock: nothing leaked by the crash, nothing reserved twice.
    assert _available(seller, sku_id) == before - len(placed)
