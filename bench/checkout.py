"""Buying benchmarks against a running platform (``make bench`` wires them in).

- ``checkout_capacity``: checkouts end to end through the gateway (quote, then place: vouchers held,
  stock reserved, orders written, the payment opened with the sandbox's provider) per second, closed
  loop, by the demo buyers signed in as people are; the caller divides by pgbench TPC-B of the same run.
- ``checkout_open_loop``: the same at a fixed offered rate (half the capacity): its p50 and p99.
- ``payment_to_stream``: a payment paid at the provider → its notification verified and confirmed →
  the captured state on the buyer's Server-Sent Events stream; sequential, p50 and p99.
- ``hop_floor``: a checkout's shape with nothing of toko in it, the floor ``checkout_capacity`` is read
  against: as many unary gRPC calls one after another as a checkout makes (``CHECKOUT_HOPS``), to the
  bare echo service, with the same 8 in flight; no database, no gateway, one client process.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
import uuid
from dataclasses import dataclass
from itertools import cycle
from typing import Any

import grpc
import httpx

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.infra.signin import sign_in

VA = "PAYMENT_METHOD_VA_BCA"
# The calls one checkout makes between processes (client → gateway → order, and order to product, user,
# shipping, promotion, inventory and payment, payment to its provider), counted on the quote and the
# placing of a one-line, one-shop checkout with a voucher check.
CHECKOUT_HOPS = 25


@dataclass(frozen=True)
class Buyer:
    """A demo buyer signed in, with an address and a shipping rate to each shop used."""

    headers: dict[str, str]
    address_id: str
    rates: dict[str, str]


@dataclass(frozen=True)
class Line:
    """A SKU for sale with stock, and its shop."""

    sku_id: str
    shop_id: str


@dataclass
class CheckoutResult:
    """One checkout load."""

    checkouts_per_second: float
    p50_ms: float
    p99_ms: float
    placed: int
    refused: int
    offered_rate: float | None = None

    @classmethod
    def of(
        cls, latencies: list[float], seconds: float, *, refused: int, offered_rate: float | None = None
    ) -> CheckoutResult:
        """The figures of ``latencies`` (seconds each) completed in ``seconds``."""
        return cls(
            checkouts_per_second=round(len(latencies) / seconds, 1),
            p50_ms=round(statistics.median(latencies) * 1000, 1) if latencies else 0.0,
            p99_ms=round(_percentile(latencies, 0.99) * 1000, 1),
            placed=len(latencies),
            refused=refused,
            offered_rate=offered_rate,
        )


def prepare(
    base_url: str, accounts: list[dict[str, Any]], admin_token: str, *, shops: int = 4
) -> tuple[list[Buyer], list[Line]]:
    """Sign the demo buyers in; find stocked SKUs of a few demo shops and quote each buyer a rate to each."""
    sellers = [a for a in accounts if a["role"] == "seller"][:shops]
    admin = {"Authorization": f"Bearer {admin_token}"}
    lines: list[Line] = []
    with httpx.Client(base_url=base_url, timeout=30) as client:
        origins: dict[str, str] = {}
        for seller in sellers:
            shop_id = seller["shop_id"]
            origins[shop_id] = client.get(f"/v1/shops/{shop_id}").json()["shop"]["originCity"]
            listed = client.get("/v1/products", params={"shopId": shop_id, "pageSize": 100}).json()[
                "products"
            ]
            for product in listed:
                for sku in product["skus"]:
                    stock = client.get(f"/v1/skus/{sku['id']}/stock", headers=admin).json()
                    if int(stock.get("available", 0)) >= 20:
                        lines.append(Line(sku["id"], shop_id))
        buyers: list[Buyer] = []
        for account in (a for a in accounts if a["role"] == "buyer"):
            token = sign_in(base_url, account["email"], account["password"]).access_token
            headers = {"Authorization": f"Bearer {token}"}
            address = client.get(f"/v1/users/{account['user_id']}/addresses", headers=headers).json()[
                "addresses"
            ][0]
            rates = {}
            for shop_id, city in origins.items():
                quoted = client.post(
                    "/v1/shipping-rates:quote",
                    json={
                        "origin": {"city": city},
                        "destination": {
                            k: address[k] for k in ("province", "city", "district", "postalCode")
                        },
                        "items": [{"weightGrams": 1000, "quantity": 1}],
                    },
                ).json()["rates"]
                rates[shop_id] = next(rate["id"] for rate in quoted if not rate.get("slotted"))
            buyers.append(Buyer(headers=headers, address_id=address["id"], rates=rates))
    return buyers, lines


async def _checkout(client: httpx.AsyncClient, buyer: Buyer, line: Line) -> dict[str, Any] | None:
    quote = await client.post(
        "/v1/checkout:quote",
        json={
            "lines": [{"skuId": line.sku_id, "quantity": 1}],
            "addressId": buyer.address_id,
            "shipping": [{"shopId": line.shop_id, "rateId": buyer.rates[line.shop_id]}],
            "paymentMethod": VA,
        },
        headers=buyer.headers,
    )
    if quote.status_code != 200:
        return None
    placed = await client.post(
        "/v1/checkouts",
        json={"quoteId": quote.json()["quote"]["id"]},
        headers=buyer.headers | {"Idempotency-Key": str(uuid.uuid4())},
    )
    if placed.status_code != 200:
        return None
    checkout: dict[str, Any] = placed.json()["checkout"]
    return checkout


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * share) - 1)] if ordered else 0.0


def checkout_capacity(
    base_url: str, buyers: list[Buyer], lines: list[Line], *, seconds: float = 10.0, concurrency: int = 8
) -> CheckoutResult:
    """Checkouts per second with ``concurrency`` in flight, each buyer and SKU in turn."""
    return asyncio.run(_closed(base_url, buyers, lines, seconds, concurrency))


async def _closed(
    base_url: str, buyers: list[Buyer], lines: list[Line], seconds: float, concurrency: int
) -> CheckoutResult:
    pairs = cycle([(buyer, line) for line in lines for buyer in buyers])
    latencies: list[float] = []
    refused = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=concurrency)
    ) as client:

        async def worker() -> None:
            nonlocal refused
            while time.perf_counter() < deadline:
                buyer, line = next(pairs)
                started = time.perf_counter()
                if await _checkout(client, buyer, line) is None:
                    refused += 1
                else:
                    latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return CheckoutResult.of(latencies, elapsed, refused=refused)


def checkout_open_loop(
    base_url: str, buyers: list[Buyer], lines: list[Line], *, rate: float, seconds: float = 10.0
) -> CheckoutResult:
    """Checkouts started at a fixed ``rate`` whatever the answers' pace: the latency a load below
    capacity sees (DESIGN §8)."""
    return asyncio.run(_open(base_url, buyers, lines, rate, seconds))


async def _open(
    base_url: str, buyers: list[Buyer], lines: list[Line], rate: float, seconds: float
) -> CheckoutResult:
    pairs = cycle([(buyer, line) for line in reversed(lines) for buyer in buyers])
    latencies: list[float] = []
    refused = 0
    async with httpx.AsyncClient(
        base_url=base_url, timeout=30, limits=httpx.Limits(max_connections=200)
    ) as client:

        async def one(buyer: Buyer, line: Line) -> None:
            nonlocal refused
            started = time.perf_counter()
            if await _checkout(client, buyer, line) is None:
                refused += 1
            else:
                latencies.append(time.perf_counter() - started)

        tasks = []
        began = time.perf_counter()
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(*next(pairs))))
        await asyncio.gather(*tasks)
    return CheckoutResult.of(latencies, seconds, refused=refused, offered_rate=round(rate, 1))


def payment_to_stream(
    base_url: str, sandbox_url: str, buyers: list[Buyer], lines: list[Line], *, samples: int = 30
) -> dict[str, Any]:
    """Provider paid → captured on the buyer's event stream, one payment at a time."""
    return asyncio.run(_to_stream(base_url, sandbox_url, buyers, lines, samples))


async def _to_stream(
    base_url: str, sandbox_url: str, buyers: list[Buyer], lines: list[Line], samples: int
) -> dict[str, Any]:
    timings: list[float] = []
    pairs = cycle([(buyer, line) for line in lines[len(lines) // 2 :] for buyer in buyers])
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=30) as client,
        httpx.AsyncClient(timeout=10) as sandbox,
    ):
        while len(timings) < samples:
            buyer, line = next(pairs)
            checkout = await _checkout(client, buyer, line)
            if checkout is None:
                continue
            payment_id = checkout["payment"]["id"]
            async with client.stream(
                "GET", f"/v1/payments/{payment_id}:watch", headers=buyer.headers
            ) as stream:
                lines_in = stream.aiter_lines()
                async for text in lines_in:
                    if text.startswith("data: "):
                        break  # the pending state, at once
                paid_at = time.perf_counter()
                await sandbox.post(f"{sandbox_url}/payments/simulate/{payment_id}", json={"outcome": "pay"})
                async for text in lines_in:
                    if text.startswith("data: ") and "PAYMENT_STATE_CAPTURED" in text:
                        timings.append(time.perf_counter() - paid_at)
                        break
    return {
        "samples": len(timings),
        "p50_ms": round(statistics.median(timings) * 1000, 1),
        "p99_ms": round(_percentile(timings, 0.99) * 1000, 1),
    }


def hop_floor(
    echo_address: str, *, hops: int = CHECKOUT_HOPS, seconds: float = 10.0, concurrency: int = 8
) -> CheckoutResult:
    """ "Checkouts" per second made of ``hops`` sequential calls to the bare echo service, ``concurrency``
    in flight: what the transport alone allows a checkout on these cores (ADR 20)."""
    return asyncio.run(_hops(echo_address, hops, seconds, concurrency))


async def _hops(echo_address: str, hops: int, seconds: float, concurrency: int) -> CheckoutResult:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    async with grpc.aio.insecure_channel(echo_address) as channel:
        stub = echo_pb2_grpc.EchoServiceStub(channel)
        request = echo_pb2.EchoRequest(message="checkout")

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                for _ in range(hops):
                    await stub.Echo(request, timeout=10)
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return CheckoutResult.of(latencies, elapsed, refused=0)
