"""Wires the product service: database and migrations, cache, events, servicer and workers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import nats
from redis.asyncio import Redis

from toko.platform.cache import ReadThroughCache, create_valkey
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.product.v1 import product_pb2, product_pb2_grpc
from toko.services.product.consumers import (
    CACHE_INVALIDATION_CONSUMER,
    CACHE_INVALIDATION_SUBJECTS,
    INVENTORY_SOURCE,
    STOCK_SIGNALS_CONSUMER,
    STOCK_SIGNALS_SUBJECTS,
    CacheInvalidation,
    StockSignals,
)
from toko.services.product.grpc_api import ProductServicer
from toko.services.product.handlers import SOURCE, Catalog
from toko.services.product.scheduler import price_scheduler
from toko.services.product.settings import ProductSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def product_cache(settings: ProductSettings, valkey: Redis) -> ReadThroughCache:
    """The Valkey read-through cache of serialized products."""
    return ReadThroughCache(
        valkey,
        service=SOURCE,
        ttl=settings.cache_ttl_seconds,
        local_size=settings.cache_local_size,
        local_ttl=settings.cache_local_ttl_seconds,
    )


async def bootstrap(settings: ProductSettings) -> ServiceApp:
    """Build the product service with its relay, consumers, price scheduler and cache follower."""
    database = await open_service_database(settings, MIGRATIONS)
    valkey = create_valkey(settings.redis_url)
    cache = product_cache(settings, valkey)
    connection = await nats.connect(settings.nats_url, name="toko-product", max_reconnect_attempts=-1)
    # Inventory's stream too (the same definition inventory ensures), so that our consumer of its
    # events can bind whichever service starts first.
    await ensure_streams(connection.jetstream(), [SOURCE, INVENTORY_SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    invalidation = EventConsumer(
        name=CACHE_INVALIDATION_CONSUMER,
        stream=stream_name(SOURCE),
        subjects=CACHE_INVALIDATION_SUBJECTS,
        database=database,
        nats=connection,
        handler=CacheInvalidation(cache),
        service=SOURCE,
    )
    stock_signals = EventConsumer(
        name=STOCK_SIGNALS_CONSUMER,
        stream=stream_name(INVENTORY_SOURCE),
        subjects=STOCK_SIGNALS_SUBJECTS,
        database=database,
        nats=connection,
        handler=StockSignals(),
        service=SOURCE,
    )
    catalog = Catalog(database=database, cache=cache, quote_ttl=timedelta(seconds=settings.quote_ttl_seconds))
    scheduler = price_scheduler(
        catalog,
        interval=settings.price_scheduler_interval_seconds,
        idle_interval=settings.price_scheduler_idle_interval_seconds,
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=product_pb2.DESCRIPTOR.services_by_name["ProductService"],
                servicer=ProductServicer(catalog),
                register=product_pb2_grpc.add_ProductServiceServicer_to_server,
            )
        ],
        workers=[relay.run, invalidation.run, stock_signals.run, scheduler, cache.run],
        on_stop=[connection.drain, valkey.aclose, database.dispose],
    )
