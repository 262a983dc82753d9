"""Wires the service: database and migrations, events, the product catalogue, servicer and workers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import nats

from toko.cart.v1 import cart_pb2 as pb
from toko.cart.v1.cart_pb2_grpc import add_CartServiceServicer_to_server
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import BackgroundWorker, batch_worker
from toko.services.cart.catalog import ProductCatalog
from toko.services.cart.consumers import CHECKOUT_CONSUMER, CHECKOUT_SUBJECTS, ORDER_SOURCE, CheckedOutLines
from toko.services.cart.grpc_api import CartServicer
from toko.services.cart.handlers import SOURCE, Carts, delete_expired_carts, seconds_until_next_expiry
from toko.services.cart.settings import CartSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def expiry_worker(carts: Carts, settings: CartSettings) -> BackgroundWorker:
    """A worker deleting guest carts past their expiry, a batch at a time (safe on many replicas).

    Idle, it sleeps until the next guest cart is due (read off the expiry index), at most
    ``expiry_idle_seconds``: carts live for days, so an idle service wakes rarely.
    """
    return batch_worker(
        lambda limit: delete_expired_carts(carts=carts, limit=limit),
        what="deleting expired guest carts",
        batch_size=settings.expiry_batch_size,
        interval=settings.expiry_interval_seconds,
        idle_interval=settings.expiry_idle_seconds,
        next_due=lambda: seconds_until_next_expiry(carts=carts),
    )


async def bootstrap(settings: CartSettings) -> ServiceApp:
    """Build the service with its outbox relay and its expiry worker."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-cart", max_reconnect_attempts=-1)
    # The order service's stream too, so the consumer binds whichever service starts first.
    await ensure_streams(connection.jetstream(), [SOURCE, ORDER_SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    checked_out = EventConsumer(
        name=CHECKOUT_CONSUMER,
        stream=stream_name(ORDER_SOURCE),
        subjects=CHECKOUT_SUBJECTS,
        database=database,
        nats=connection,
        handler=CheckedOutLines(),
        service=SOURCE,
    )
    catalog = ProductCatalog(settings.product_service_address, timeout=settings.product_call_timeout_seconds)
    carts = Carts(
        database=database, catalog=catalog, guest_ttl=timedelta(seconds=settings.guest_cart_ttl_seconds)
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["CartService"],
                servicer=CartServicer(carts),
                register=add_CartServiceServicer_to_server,
            )
        ],
        workers=[relay.run, checked_out.run, expiry_worker(carts, settings)],
        on_stop=[connection.drain, catalog.close, database.dispose],
    )
