"""A flash sale bought through checkout (``make bench`` wires it in).

100 units of a demo SKU at half price, one per buyer. Buyers rush the claim endpoint through the gateway
(2,000 claims at once); each winner checks out with the claim (quote, place: the reservation takes the
claimed unit from the quota) and pays at the sandbox's provider. Then the books are read: exactly 100 paid
orders of the SKU, none oversold (durable claims = paid orders = units sold), and the SKU's stock ledger
equal to its on-hand.

Buyers are real accounts with an address, made through the user service's own use cases (as the demo seed
makes its buyers) and signed in by the authorization-code flow, before the measured part starts.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from toko.infra.signin import sign_in
from toko.platform.auth import Principal
from toko.platform.db import open_service_database
from toko.services.user.bootstrap import MIGRATIONS, build_users
from toko.services.user.domain import AddressFields
from toko.services.user.handlers import accounts, addresses
from toko.services.user.settings import UserSettings

VA = "PAYMENT_METHOD_VA_BCA"
PASSWORD = "kilat-rush-2026-bench"
DESTINATION = {
    "province": "DKI Jakarta",
    "city": "Jakarta Selatan",
    "district": "Kebayoran Baru",
    "postalCode": "12190",
}


@dataclass(frozen=True)
class FlashBuyer:
    """A bench buyer signed in, with the address their checkout goes to."""

    headers: dict[str, str]
    address_id: str


@dataclass
class FlashCheckoutResult:
    """One flash sale through checkout."""

    quota: int
    buyers: int
    claims_sent: int
    claims_won: int
    paid_orders: int
    oversold: int
    units_sold: int
    ledger_matches_on_hand: bool
    claim_seconds: float
    checkout_seconds: float
    checkout_p50_ms: float
    checkout_p99_ms: float


def make_buyers(endpoints: dict[str, Any], data_dir: str, base_url: str, count: int) -> list[FlashBuyer]:
    """``count`` verified buyers with a Jakarta address, signed in (four sign-ins at a time)."""
    run = uuid.uuid4().hex[:8]
    emails = [f"kilat.{run}.{n}@toko.test" for n in range(count)]
    addresses_of = asyncio.run(_create_accounts(endpoints, data_dir, emails))

    def signed_in(email: str) -> FlashBuyer:
        token = sign_in(base_url, email, PASSWORD).access_token
        return FlashBuyer({"Authorization": f"Bearer {token}"}, addresses_of[email])

    with ThreadPoolExecutor(4) as pool:
        return list(pool.map(signed_in, emails))


async def _create_accounts(endpoints: dict[str, Any], data_dir: str, emails: list[str]) -> dict[str, str]:
    settings = UserSettings.model_validate(
        {
            "TOKO_DATABASE_URL": endpoints["database_url"],
            "TOKO_NATS_URL": endpoints["nats_url"],
            "TOKO_REDIS_URL": endpoints["redis_url"],
            "TOKO_DATA_DIR": data_dir,
        }
    )
    database = await open_service_database(settings, MIGRATIONS)
    users = build_users(settings, database)
    made: dict[str, str] = {}
    try:
        for n, email in enumerate(emails):
            user = await accounts.sign_up(
                users=users,
                command=accounts.SignUp(
                    email=email, password=PASSWORD, name=f"Pembeli Kilat {n}", email_verified=True
                ),
                principal=Principal(subject="bench"),
            )
            address = await addresses.create_address(
                users=users,
                user_id=user.id,
                fields=AddressFields(
                    "Rumah",
                    f"Pembeli Kilat {n}",
                    "+6281234560000",
                    DESTINATION["province"],
                    DESTINATION["city"],
                    DESTINATION["district"],
                    "Senayan",
                    DESTINATION["postalCode"],
                    f"Jl. Kilat No. {n + 1}",
                ),
                principal=Principal(subject=user.id),
            )
            made[email] = address.id
    finally:
        await database.dispose()
    return made


def flash_sale_checkout(
    base_url: str,
    sandbox_url: str,
    inventory_libpq_url: str,
    seller: dict[str, Any],
    admin_token: str,
    buyers: list[FlashBuyer],
    *,
    quota: int = 100,
    claims: int = 2000,
) -> FlashCheckoutResult:
    """Rush, check out and pay a flash sale of ``quota`` units; then read its books."""
    return asyncio.run(
        _flash(base_url, sandbox_url, inventory_libpq_url, seller, admin_token, buyers, quota, claims)
    )


async def _flash(
    base_url: str,
    sandbox_url: str,
    inventory_libpq_url: str,
    seller: dict[str, Any],
    admin_token: str,
    buyers: list[FlashBuyer],
    quota: int,
    claims: int,
) -> FlashCheckoutResult:
    admin = {"Authorization": f"Bearer {admin_token}"}
    shop_id = seller["shop_id"]
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=60, limits=httpx.Limits(max_connections=64)) as client,
        httpx.AsyncClient(timeout=30) as sandbox,
    ):
        sku_id, base_price = await _fresh_stock(client, admin, shop_id, quota * 2)
        campaign_id = await _campaign(client, admin, sku_id, base_price // 2, quota)
        shop = (await client.get(f"/v1/shops/{shop_id}")).json()["shop"]
        rate_id = await _rate(client, shop["originCity"])
        before = (await client.get(f"/v1/skus/{sku_id}/stock", headers=admin)).json()
        claim_url = f"/v1/flash-sales/{campaign_id}/skus/{sku_id}:claim"

        async def claim(buyer: FlashBuyer) -> tuple[FlashBuyer, str | None]:
            answer = await client.post(claim_url, json={"quantity": 1}, headers=buyer.headers)
            return buyer, answer.json()["claimId"] if answer.status_code == 200 else None

        started = time.perf_counter()
        outcomes = await asyncio.gather(*(claim(buyers[n % len(buyers)]) for n in range(claims)))
        claim_seconds = time.perf_counter() - started
        winners = [(buyer, claim_id) for buyer, claim_id in outcomes if claim_id is not None]

        timings: list[float] = []
        payments: list[tuple[FlashBuyer, list[str]]] = []
        gate = asyncio.Semaphore(8)

        async def buy(buyer: FlashBuyer, claim_id: str) -> None:
            async with gate:
                began = time.perf_counter()
                quote = await client.post(
                    "/v1/checkout:quote",
                    json={
                        "lines": [{"skuId": sku_id, "quantity": 1, "flashSaleClaimId": claim_id}],
                        "addressId": buyer.address_id,
                        "shipping": [{"shopId": shop_id, "rateId": rate_id}],
                        "paymentMethod": VA,
                    },
                    headers=buyer.headers,
                )
                if quote.status_code != 200:
                    raise RuntimeError(f"quote: {quote.status_code} {quote.text[:300]}")
                placed = await client.post(
                    "/v1/checkouts",
                    json={"quoteId": quote.json()["quote"]["id"]},
                    headers=buyer.headers | {"Idempotency-Key": str(uuid.uuid4())},
                )
                if placed.status_code != 200:
                    raise RuntimeError(f"checkout: {placed.status_code} {placed.text[:300]}")
                checkout = placed.json()["checkout"]
                paid = await sandbox.post(
                    f"{sandbox_url}/payments/simulate/{checkout['payment']['id']}", json={"outcome": "pay"}
                )
                if paid.status_code != 200:
                    raise RuntimeError(f"paying: {paid.status_code} {paid.text[:300]}")
                timings.append(time.perf_counter() - began)
                payments.append((buyer, list(checkout["orderIds"])))

        started = time.perf_counter()
        await asyncio.gather(*(buy(buyer, claim_id) for buyer, claim_id in winners))
        paid_orders = await _paid(client, payments)
        checkout_seconds = time.perf_counter() - started
        after = (await client.get(f"/v1/skus/{sku_id}/stock", headers=admin)).json()
    units_sold = int(before["onHand"]) - int(after["onHand"])
    durable, ledger = await _books(inventory_libpq_url, campaign_id, sku_id)
    return FlashCheckoutResult(
        quota=quota,
        buyers=len(buyers),
        claims_sent=claims,
        claims_won=len(winners),
        paid_orders=paid_orders,
        oversold=max(0, units_sold - quota) + max(0, durable - quota),
        units_sold=units_sold,
        ledger_matches_on_hand=ledger == int(after["onHand"]),
        claim_seconds=round(claim_seconds, 2),
        checkout_seconds=round(checkout_seconds, 2),
        checkout_p50_ms=round(statistics.median(timings) * 1000, 1) if timings else float("nan"),
        checkout_p99_ms=round(sorted(timings)[max(0, round(len(timings) * 0.99) - 1)] * 1000, 1)
        if timings
        else float("nan"),
    )


async def _fresh_stock(
    client: httpx.AsyncClient, admin: dict[str, str], shop_id: str, units: int
) -> tuple[str, int]:
    """A SKU of the shop with ``units`` more units received: its id and base price."""
    products = (await client.get("/v1/products", params={"shopId": shop_id, "pageSize": 50})).json()[
        "products"
    ]
    sku = products[-1]["skus"][0]
    warehouses = (await client.get("/v1/warehouses", params={"shopId": shop_id}, headers=admin)).json()
    warehouse_id = warehouses["warehouses"][0]["id"]
    received = await client.post(
        f"/v1/warehouses/{warehouse_id}/skus/{sku['id']}:receive",
        json={"quantity": units, "reference": "bench flash sale"},
        headers=admin,
    )
    if received.status_code != 200:
        raise RuntimeError(f"receiving stock: {received.status_code} {received.text[:300]}")
    return str(sku["id"]), int(sku["price"]["amount"])


async def _campaign(
    client: httpx.AsyncClient, admin: dict[str, str], sku_id: str, price: int, quota: int
) -> str:
    """A campaign opening in a moment with the SKU at ``price``; its id once inventory holds its quota."""
    now = datetime.now(UTC)
    created = await client.post(
        "/v1/campaigns",
        json={
            "name": "Bench Flash Sale",
            "startTime": (now + timedelta(seconds=3)).isoformat(),
            "endTime": (now + timedelta(hours=1)).isoformat(),
        },
        headers=admin,
    )
    if created.status_code != 200:
        raise RuntimeError(f"campaign: {created.status_code} {created.text[:300]}")
    campaign_id = str(created.json()["campaign"]["id"])
    added = await client.post(
        f"/v1/campaigns/{campaign_id}/skus",
        json={
            "skus": [
                {
                    "skuId": sku_id,
                    "campaignPrice": {"amount": str(price), "currency": "IDR"},
                    "quota": quota,
                    "perBuyerLimit": 1,
                }
            ]
        },
        headers=admin,
    )
    if added.status_code != 200:
        raise RuntimeError(f"campaign SKU: {added.status_code} {added.text[:300]}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        allocation = await client.get(f"/v1/flash-sales/{campaign_id}/skus/{sku_id}")
        opened = allocation.status_code == 200 and datetime.fromisoformat(
            allocation.json()["allocation"]["startTime"].replace("Z", "+00:00")
        ) <= datetime.now(UTC)
        if opened:
            return campaign_id
        await asyncio.sleep(0.5)
    raise RuntimeError("the campaign's quota was not set apart within a minute")


async def _rate(client: httpx.AsyncClient, origin_city: str) -> str:
    """A shipping rate from the shop to the bench buyers' district (every one of them lives there)."""
    rates = (
        await client.post(
            "/v1/shipping-rates:quote",
            json={
                "origin": {"city": origin_city},
                "destination": DESTINATION,
                "items": [{"weightGrams": 1000, "quantity": 1}],
            },
        )
    ).json()["rates"]
    return str(next(rate["id"] for rate in rates if not rate.get("slotted")))


async def _paid(client: httpx.AsyncClient, payments: list[tuple[FlashBuyer, list[str]]]) -> int:
    """How many of the orders reached PAID (waiting up to a minute for the last notifications)."""
    deadline = time.monotonic() + 60
    pending = [(buyer, order_id) for buyer, orders in payments for order_id in orders]
    paid = 0
    while pending and time.monotonic() < deadline:
        still = []
        for buyer, order_id in pending:
            order = (await client.get(f"/v1/orders/{order_id}", headers=buyer.headers)).json()["order"]
            if order["state"] == "ORDER_STATE_PAID":
                paid += 1
            else:
                still.append((buyer, order_id))
        pending = still
        if pending:
            await asyncio.sleep(0.5)
    return paid


async def _books(libpq_url: str, campaign_id: str, sku_id: str) -> tuple[int, int]:
    """Units durably claimed in the campaign, and the SKU's on-hand by its stock ledger."""
    connection = await asyncpg.connect(libpq_url)
    try:
        durable = await connection.fetchval(
            "SELECT coalesce(sum(c.quantity), 0) FROM flash_sale_claims c "
            "JOIN flash_sale_allocations a ON a.id = c.allocation_id "
            "WHERE a.campaign_id = $1 AND c.status IN ('held', 'used')",
            uuid.UUID(campaign_id),
        )
        ledger = await connection.fetchval(
            "SELECT coalesce(sum(l.on_hand_delta), 0) FROM stock_ledger l "
            "JOIN stock s ON s.id = l.stock_id WHERE s.sku_id = $1",
            uuid.UUID(sku_id),
        )
    finally:
        await connection.close()
    return int(durable), int(ledger)
