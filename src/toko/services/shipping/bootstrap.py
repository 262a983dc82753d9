"""Wires the service: database, Valkey, the couriers, events, servicer, webhooks and workers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import nats

from toko.platform.cache import ReadThroughCache, create_valkey
from toko.platform.db import open_service_database
from toko.platform.embedded_http import EmbeddedListener
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import BackgroundWorker, batch_worker
from toko.services.shipping.couriers import couriers_from
from toko.services.shipping.domain import COURIER_CODES
from toko.services.shipping.grpc_api import ShippingServicer
from toko.services.shipping.handlers.common import SOURCE, Shipping
from toko.services.shipping.handlers.tracking import poll_quiet_shipments
from toko.services.shipping.settings import ShippingSettings
from toko.services.shipping.webhooks import WebhookApp
from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1.shipping_pb2_grpc import add_ShippingServiceServicer_to_server

MIGRATIONS = Path(__file__).parent / "migrations"
POLL_BATCH = 50


@dataclass
class ShippingService:
    """The assembled service: what ``run`` starts, plus the parts tests look at."""

    app: ServiceApp
    shipping: Shipping
    webhooks: EmbeddedListener


def tracking_poller(shipping: Shipping, settings: ShippingSettings) -> BackgroundWorker:
    """Poll the couriers about parcels they went quiet about, every ``poll_interval_seconds``."""
    quiet_for = timedelta(seconds=settings.poll_after_seconds)

    async def one_batch(limit: int) -> int:
        return await poll_quiet_shipments(shipping=shipping, quiet_for=quiet_for, limit=limit)

    return batch_worker(
        one_batch, what="tracking poll", batch_size=POLL_BATCH, interval=settings.poll_interval_seconds
    )


async def build(settings: ShippingSettings) -> ShippingService:
    """Assemble the service."""
    database = await open_service_database(settings, MIGRATIONS)
    valkey = create_valkey(settings.redis_url)
    # One pooled client for every courier; its timeout backs up the quote's own per-courier deadline.
    http = httpx.AsyncClient(timeout=httpx.Timeout(settings.courier_timeout_seconds * 2))
    shipping = Shipping(
        database=database,
        couriers=couriers_from(
            settings.courier_base_urls(COURIER_CODES), settings.courier_credentials(), http
        ),
        cache=ReadThroughCache(valkey, service=SOURCE, ttl=settings.rate_cache_seconds),
        courier_timeout=settings.courier_timeout_seconds,
        rate_cache_seconds=settings.rate_cache_seconds,
        rate_ttl=timedelta(minutes=settings.rate_ttl_minutes),
    )
    webhooks = EmbeddedListener(
        WebhookApp(
            shipping,
            secret=settings.courier_webhook_secret,
            tolerance=timedelta(seconds=settings.webhook_tolerance_seconds),
        ),
        host=settings.host,
        port=settings.http_port,
    )
    connection = await nats.connect(settings.nats_url, name="toko-shipping", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    app = ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["ShippingService"],
                servicer=ShippingServicer(shipping),
                register=add_ShippingServiceServicer_to_server,
            )
        ],
        workers=[webhooks.run, relay.run, tracking_poller(shipping, settings)],
        on_stop=[connection.drain, http.aclose, valkey.aclose, database.dispose],
    )
    return ShippingService(app=app, shipping=shipping, webhooks=webhooks)


async def bootstrap(settings: ShippingSettings) -> ServiceApp:
    """Build the service as ``python -m toko.services.shipping`` runs it."""
    return (await build(settings)).app
