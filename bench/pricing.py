"""The price quote of a 20-line cart through the gateway: latency percentiles (target p99 ≤ 10 ms).

``quote_p99(gateway_url, sku_ids)`` sends ``requests`` quotes one after another (a
latency measure, not a throughput one: a queue would only measure itself), each
for ``lines`` SKUs drawn from ``sku_ids``, after a short warm-up, and returns the
percentiles in milliseconds. ``skus_for_sale(gateway_url)`` collects SKU ids of
active products to quote.

Run on its own against a running platform::

    python -m bench.pricing http://127.0.0.1:8080
"""

from __future__ import annotations

import random
import statistics
import sys
import time
from typing import Any

import httpx

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


if __name__ == "__main__":
    url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    print(quote_p99(url, skus_for_sale(url)))
