"""Wires the service: database and migrations, the services it calls, events, servicer and workers."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import nats

from toko.order.v1 import order_pb2 as pb
from toko.order.v1.order_pb2_grpc import add_OrderServiceServicer_to_server
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import batch_worker
from toko.services.order.clients import Peers, TokenSource
from toko.services.order.consumers import (
    DELIVERY_CONSUMER,
    DELIVERY_SUBJECTS,
    PAYMENT_CONSUMER,
    PAYMENT_SOURCE,
    PAYMENT_SUBJECTS,
    SHIPPING_SOURCE,
    Deliveries,
    PaymentOutcomes,
)
from toko.services.order.grpc_api import OrderServicer
from toko.services.order.handlers import SOURCE, Orders
from toko.services.order.handlers.checkouts import resume_stalled, seconds_until_stalled
from toko.services.order.handlers.orders import run_due_timers, seconds_until_next_timer
from toko.services.order.settings import OrderSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# After a round that did something, look again this soon (more may be due meanwhile).
BUSY_INTERVAL_SECONDS = 1.0


async def bootstrap(settings: OrderSettings, *, tokens: TokenSource | None = None) -> ServiceApp:
    """Build the service: its outbox relay, the consumers of payment and shipping events, the timer
    worker and the worker resuming checkouts whose placing stalled."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-order", max_reconnect_attempts=-1)
    # The payment's and shipping's streams too, so the consumers bind whichever service starts first.
    await ensure_streams(connection.jetstream(), [SOURCE, PAYMENT_SOURCE, SHIPPING_SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    peers = Peers(settings, tokens if tokens is not None else settings.service_tokens(SOURCE))
    orders = Orders(database=database, peers=peers, settings=settings)
    consumers = [
        EventConsumer(
            name=PAYMENT_CONSUMER,
            stream=stream_name(PAYMENT_SOURCE),
            subjects=PAYMENT_SUBJECTS,
            database=database,
            nats=connection,
            handler=PaymentOutcomes(orders),
            service=SOURCE,
        ),
        EventConsumer(
            name=DELIVERY_CONSUMER,
            stream=stream_name(SHIPPING_SOURCE),
            subjects=DELIVERY_SUBJECTS,
            database=database,
            nats=connection,
            handler=Deliveries(orders),
            service=SOURCE,
        ),
    ]
    timers = batch_worker(
        partial(_timers, orders),
        what="order timers",
        batch_size=settings.worker_batch_size,
        interval=BUSY_INTERVAL_SECONDS,
        idle_interval=settings.worker_idle_seconds,
        next_due=partial(seconds_until_next_timer, orders),
        wake=orders.wake,
    )
    stalled = batch_worker(
        partial(resume_stalled, orders),
        what="resuming stalled checkouts",
        batch_size=settings.worker_batch_size,
        interval=BUSY_INTERVAL_SECONDS,
        idle_interval=settings.worker_idle_seconds,
        next_due=partial(seconds_until_stalled, orders),
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["OrderService"],
                servicer=OrderServicer(orders),
                register=add_OrderServiceServicer_to_server,
            )
        ],
        workers=[relay.run, *(consumer.run for consumer in consumers), timers, stalled],
        on_stop=[connection.drain, peers.close, database.dispose],
    )


async def _timers(orders: Orders, batch_size: int) -> int:
    return await run_due_timers(orders, batch_size)
