"""Wires the inventory service: database and migrations, Valkey, events, servicer and workers."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from pathlib import Path

import nats
from nats.js.client import JetStreamContext
from nats.js.errors import NotFoundError

from toko.inventory.v1 import inventory_pb2, inventory_pb2_grpc
from toko.platform.cache import create_valkey
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import BackgroundWorker, batch_worker, sleep_until
from toko.services.inventory.consumers import (
    CAMPAIGN_CONSUMER,
    CAMPAIGN_SUBJECTS,
    CATALOG_CONSUMER,
    CATALOG_SUBJECTS,
    PRODUCT_SOURCE,
    CampaignQuotas,
    CatalogFollower,
)
from toko.services.inventory.counters import VALKEY_ERRORS, FlashSaleCounters
from toko.services.inventory.demo import DemoOpeningStock
from toko.services.inventory.grpc_api import InventoryServicer
from toko.services.inventory.handlers import SOURCE, Inventory
from toko.services.inventory.handlers.flash_sale import flash_sale_upkeep, reconcile_flash_sales
from toko.services.inventory.handlers.lots import seconds_until_lots_expire, write_off_due_lots
from toko.services.inventory.handlers.reservations import expire_due_reservations, seconds_until_next_expiry
from toko.services.inventory.settings import InventorySettings

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
STREAM_WAIT_LONGEST_SECONDS = 60.0


def expiry_worker(inventory: Inventory, settings: InventorySettings) -> BackgroundWorker:
    """A worker releasing reservations past their time, a batch at a time (safe on many replicas).

    Idle, it sleeps until the earliest active reservation is due (read off the expiry index), up to
    ``expiry_idle_seconds``; the reserve use case rings ``inventory.expiry_alarm`` for a reservation
    due sooner, so each one is released within about a second of its time.
    """
    return batch_worker(
        lambda limit: expire_due_reservations(inventory=inventory, limit=limit),
        what="expiring reservations",
        batch_size=settings.expiry_batch_size,
        interval=settings.expiry_interval_seconds,
        idle_interval=settings.expiry_idle_seconds,
        next_due=lambda: seconds_until_next_expiry(inventory=inventory),
        wake=inventory.expiry_alarm.wake,
    )


def lot_write_off_worker(inventory: Inventory, settings: InventorySettings) -> BackgroundWorker:
    """A worker writing off the unheld units of lots past their date, a batch of stock lines at a time.

    Each batch is one transaction over lines claimed with ``SKIP LOCKED``, so replicas share the work.
    Lots expire when the inventory's date turns, so an idle worker also wakes then: the availability
    events show expired units gone within moments of midnight, not at the next interval.
    """

    async def next_due() -> float:
        return seconds_until_lots_expire(inventory.clock())

    return batch_worker(
        lambda limit: write_off_due_lots(inventory=inventory, limit=limit),
        what="writing off expired lots",
        batch_size=settings.lot_write_off_batch_size,
        interval=settings.lot_write_off_interval_seconds,
        idle_interval=settings.lot_write_off_idle_seconds,
        next_due=next_due,
    )


def reconciliation_worker(inventory: Inventory, settings: InventorySettings) -> BackgroundWorker:
    """A worker keeping flash sales straight while they are live: claims past their time give their units
    back to the quota, ended campaigns put their unsold quota back on sale, and the counters in Valkey are
    checked against the durable claims."""

    async def one_batch(limit: int) -> int:
        touched = await flash_sale_upkeep(inventory=inventory, limit=limit)
        return touched + (await reconcile_flash_sales(inventory=inventory, limit=limit)).checked

    return batch_worker(
        one_batch,
        what="reconciling flash-sale counters",
        batch_size=settings.flash_sale_reconcile_batch_size,
        interval=settings.flash_sale_reconcile_seconds,
        idle_interval=settings.flash_sale_reconcile_idle_seconds,
    )


def after_stream_exists(js: JetStreamContext, stream: str, worker: BackgroundWorker) -> BackgroundWorker:
    """Run ``worker`` once another service's stream exists (it creates its own streams when it starts).

    Until then it looks again after a second, then twice as long each time, up to a minute.
    """

    async def run(stop: asyncio.Event) -> None:
        wait = 1.0
        while not stop.is_set():
            try:
                await js.stream_info(stream)
                break
            except NotFoundError:
                await sleep_until(stop, wait)
                wait = min(wait * 2, STREAM_WAIT_LONGEST_SECONDS)
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
        handler=CatalogFollower(opening_stock=DemoOpeningStock() if settings.demo_stock else None),
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
    inventory = Inventory(
        database=database,
        flash_sales=FlashSaleCounters(valkey),
        claim_ttl=timedelta(seconds=settings.flash_sale_claim_ttl_seconds),
    )
    try:
        # Before serving: counters leaked by a process that died mid-claim, or lost with Valkey, are rebuilt.
        await reconcile_flash_sales(inventory=inventory, force=True)
    except VALKEY_ERRORS:
        log.warning(
            "cannot reconcile flash-sale counters at start; claims load them on demand", exc_info=True
        )

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
            reconciliation_worker(inventory, settings),
        ],
        on_stop=[connection.drain, valkey.aclose, database.dispose],
    )
