"""Pricing figures: the quote of a 20-line cart through the gateway (target p99 ≤ 10 ms), and how soon a
price change reaches a JetStream consumer as ``PriceChanged`` (target: within a second).

``quote_p99(gateway_url, sku_ids)`` sends ``requests`` quotes one after another (a
latency measure, not a throughput one: a queue would only measure itself), each
for ``lines`` SKUs drawn from ``sku_ids``, after a short warm-up, and returns the
percentiles in milliseconds. ``skus_for_sale(gateway_url)`` collects SKU ids of
active products to quote.

``price_change_latency(grpc_address, nats_url, token, product_id)`` reprices one SKU ``changes`` times,
one after another, and times each from the moment the change is sent to the moment a subscriber of
the product stream receives its ``PriceChanged`` (outbox, relay and JetStream included).

Run the quote on its own against a running platform::

    python -m bench.pricing http://127.0.0.1:8080
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
from typing import Any

import grpc
import httpx
import nats
from google.protobuf.field_mask_pb2 import FieldMask
from nats.js.api import ConsumerConfig, DeliverPolicy

from toko.common.v1.event_pb2 import EventEnvelope
from toko.product.v1 import events_pb2, product_pb2, product_pb2_grpc

WARM_UP = 50


def skus_for_sale(gateway_url: str, count: int = 200) -> list[str]:
    """SKU ids of active products, for quotes."""
    found: list[str] = []
    token = ""
    with httpx.Client(base_url=gateway_url, timeout=10.0) as client:
        while len(found) < count:
            page = client.get("/v1/products", params={"page_size": 100, "page_token": token}).json()
            found += [sku["id"] for product in page.get("products", []) for sku in product.get("skus", [])]
            token = page.get("nextPageToken", "")
            if not token:
                break
    return found[:count]


def quote_p99(
    gateway_url: str, sku_ids: list[str], *, lines: int = 20, requests: int = 500
) -> dict[str, Any]:
    """Latency of ``POST /v1/prices:quote`` for ``lines``-line carts, sequentially, in milliseconds."""
    if len(sku_ids) < lines:
        raise ValueError(f"need at least {lines} SKU ids, got {len(sku_ids)}")
    rng = random.Random(20251212)
    carts = [
        {"lines": [{"skuId": sku, "quantity": rng.randint(1, 12)} for sku in rng.sample(sku_ids, lines)]}
        for _ in range(WARM_UP + requests)
    ]
    durations: list[float] = []
    failed = 0
    with httpx.Client(base_url=gateway_url, timeout=10.0) as client:
        for index, cart in enumerate(carts):
            started = time.perf_counter()
            response = client.post("/v1/prices:quote", json=cart)
            elapsed = (time.perf_counter() - started) * 1000
            if index < WARM_UP:
                continue
            if response.status_code != 200 or len(response.json().get("lines", [])) != lines:
                failed += 1
            durations.append(elapsed)
    durations.sort()
    return {
        "name": f"price quote, {lines} lines",
        "requests": requests,
        "failed": failed,
        "p50_ms": round(statistics.median(durations), 2),
        "p90_ms": round(durations[int(0.90 * (len(durations) - 1))], 2),
        "p99_ms": round(durations[int(0.99 * (len(durations) - 1))], 2),
        "max_ms": round(durations[-1], 2),
        "target_p99_ms": 10.0,
    }


def price_change_latency(
    grpc_address: str, nats_url: str, token: str, product_id: str, *, changes: int = 50
) -> dict[str, Any]:
    """Milliseconds from sending a price change to its ``PriceChanged`` reaching a consumer."""
    return asyncio.run(_price_change_latency(grpc_address, nats_url, token, product_id, changes))


async def _price_change_latency(
    grpc_address: str, nats_url: str, token: str, product_id: str, changes: int
) -> dict[str, Any]:
    arrivals: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def on_message(message: Any) -> None:
        await arrivals.put((time.monotonic(), message.data))
        await message.ack()

    connection = await nats.connect(nats_url)
    subscription = await connection.jetstream().subscribe(
        f"toko.product.{events_pb2.PriceChanged.DESCRIPTOR.name}",
        cb=on_message,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    metadata = (("authorization", f"Bearer {token}"),)
    durations: list[float] = []
    try:
        async with grpc.aio.insecure_channel(grpc_address) as channel:
            stub = product_pb2_grpc.ProductServiceStub(channel)
            product = (
                await stub.GetProduct(product_pb2.GetProductRequest(id=product_id), metadata=metadata)
            ).product
            base = product.skus[0].price.amount
            for change in range(1, changes + 1):
                changed = product_pb2.Product(id=product.id)
                for sku in product.skus:
                    changed.skus.add(code=sku.code, option_values=sku.option_values, price=sku.price)
                # Alternating up and down: every change is a change, and the price stays near the start.
                amount = base + (100 if change % 2 else 0)
                changed.skus[0].price.amount = amount
                request = product_pb2.UpdateProductRequest(
                    product=changed, update_mask=FieldMask(paths=["skus"])
                )
                started = time.monotonic()
                product = (await stub.UpdateProduct(request, metadata=metadata)).product
                while True:
                    arrived, data = await asyncio.wait_for(arrivals.get(), timeout=10.0)
                    event = events_pb2.PriceChanged()
                    EventEnvelope.FromString(data).payload.Unpack(event)
                    if event.sku_id == product.skus[0].id and event.new_price.amount == amount:
                        break
                durations.append((arrived - started) * 1000)
    finally:
        await subscription.unsubscribe()
        await connection.drain()
    durations.sort()
    return {
        "name": "price change to PriceChanged at a consumer",
        "changes": changes,
        "p50_ms": round(statistics.median(durations), 1),
        "p99_ms": round(durations[int(0.99 * (len(durations) - 1))], 1),
        "max_ms": round(durations[-1], 1),
        "target_max_ms": 1000.0,
    }


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    print(quote_p99(url, skus_for_sale(url)))
