"""Wires the inventory service: database and migrations, Valkey, events, servicer and workers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import nats
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError
from redis.exceptions import RedisError

from toko.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from toko.platform.cache import create_valkey
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import BackgroundWorker, ServiceApp
from toko.services.inventory.consumers import (
    CAMPAIGN_CONSUMER,
    CAMPAIGN_SUBJECTS,
    CATALOG_CONSUMER,
    CATALOG_SUBJECTS,
    PRODUCT_SOURCE,
    CampaignQuotas,
    CatalogFollower,
)
from toko.services.inventory.counters import FlashSaleCounters
from toko.services.inventory.grpc_api import InventoryServicer
from toko.services.inventory.handlers import SOURCE, Inventory
from toko.services.inventory.handlers.flash_sale import reconcile_flash_sales
from toko.services.inventory.handlers.lots import seconds_until_lots_expire, write_off_due_lots
from toko.services.inventory.handlers.reservations import expire_due_reservations
from toko.services.inventory.settings import InventorySettings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"


def batch_worker(
    one_batch: Callable[[int], Awaitable[int]],
    *,
    batch_size: int,
    interval_seconds: float,
    what: str,
    next_due: Callable[[], float] | None = None,
) -> BackgroundWorker:
    """A worker running ``one_batch(batch_size)`` until a batch comes back short, then every interval,
    or sooner when ``next_due()`` (seconds) says when work is known to come due."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                while not stop.is_set() and await one_batch(batch_size) == batch_size:
                    pass
            except Exception:
                log.warning("%s failed; retrying", what, exc_info=True)
            wait = interval_seconds if next_due is None else min(interval_seconds, next_due())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)

    return run


def expiry_worker(inventory: Inventory, settings: InventorySettings) -> BackgroundWorker:
    """A worker releasing reservations past their time, a batch at a time (safe on many replicas)."""
    return batch_worker(
        lambda limit: expire_due_reservations(inventory=inventory, limit=limit),
        batch_size=settings.expiry_batch_size,
        interval_seconds=settings.expiry_interval_seconds,
        what="expiring reservations",
    )


def lot_write_off_worker(inventory: Inventory, settings: InventorySettings) -> BackgroundWorker:
    """A worker writing off the unheld units of lots past their date, a batch of stock lines at a time.

    Each batch is one transaction over lines claimed with ``SKIP LOCKED``, so replicas share the work.
    Lots expire when the inventory's date turns, so the worker also wakes then: the availability events
    show expired units gone within moments of midnight, not at the next interval.
    """
    return batch_worker(
        lambda limit: write_off_due_lots(inventory=inventory, limit=limit),
        batch_size=settings.lot_write_off_batch_size,
        interval_seconds=settings.lot_write_off_interval_seconds,
        what="writing off expired lots",
        next_due=lambda: seconds_until_lots_expire(inventory.clock()),
    )


def after_stream_exists(js: JetStreamContext, stream: str, worker: BackgroundWorker) -> BackgroundWorker:
    """Run ``worker`` once another service's stream exists (it creates its own streams when it starts)."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await js.stream_info(stream)
                break
            except NotFoundError:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
        if not stop.is_set():
            await worker(stop)

    return run


async def bootstrap(settings: InventorySettings) -> ServiceApp:
    """Build the inventory service: relay, catalog and campaign consumers, expiry and lot write-off
    workers, reconciler."""
    database = await open_service_database(settings, MIGRATIONS)
    valkey = create_valkey(settings.redis_url)
    connection = await nats.connect(settings.nats_url, name="toko-inventory", max_reconnect_attempts=-1)
    js = connection.jetstream()
    # The product service creates its stream too; ensuring it here lets the campaign consumer start at once.
    await ensure_streams(js, [SOURCE, PRODUCT_SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    catalog = EventConsumer(
        name=CATALOG_CONSUMER,
        stream=stream_name(PRODUCT_SOURCE),
        subjects=CATALOG_SUBJECTS,
        database=database,
        nats=connection,
        handler=CatalogFollower(demo_stock=settings.demo_stock),
        service=SOURCE,
    )
    campaigns = EventConsumer(
        name=CAMPAIGN_CONSUMER,
        stream=stream_name(PRODUCT_SOURCE),
        subjects=CAMPAIGN_SUBJECTS,
        database=database,
        nats=connection,
        handler=CampaignQuotas(),
        service=SOURCE,
    )
    inventory = Inventory(database=database, flash_sales=FlashSaleCounters(valkey))
    try:
        # Before serving: counters leaked by a process that died mid-claim, or lost with Valkey, are rebuilt.
        await reconcile_flash_sales(inventory=inventory, force=True)
    except (RedisError, OSError):
        log.warning(
            "cannot reconcile flash-sale counters at start; claims load them on demand", exc_info=True
        )

    async def reconcile(stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.flash_sale_reconcile_seconds)
            if stop.is_set():
                return
            try:
                await reconcile_flash_sales(inventory=inventory)
            except Exception:
                log.warning("flash-sale reconciliation failed; retrying", exc_info=True)

    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=inventory_pb2.DESCRIPTOR.services_by_name["InventoryService"],
                servicer=InventoryServicer(inventory),
                register=inventory_pb2_grpc.add_InventoryServiceServicer_to_server,
            )
        ],
        workers=[
            relay.run,
            after_stream_exists(js, stream_name(PRODUCT_SOURCE), catalog.run),
            campaigns.run,
            expiry_worker(inventory, settings),
            lot_write_off_worker(inventory, settings),
            reconcile,
        ],
        on_stop=[connection.drain, valkey.aclose, database.dispose],
    )
