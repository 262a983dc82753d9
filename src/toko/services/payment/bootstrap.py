"""Wires the service: database and migrations, the provider, events, servicer, notifications and workers."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import httpx
import nats
from nats.aio.msg import Msg

from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1.payment_pb2_grpc import add_PaymentServiceServicer_to_server
from toko.platform.db import open_service_database
from toko.platform.embedded_http import EmbeddedListener
from toko.platform.events import event_subject
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import batch_worker
from toko.services.payment.grpc_api import PaymentServicer
from toko.services.payment.handlers import (
    SOURCE,
    Payments,
    expire_due,
    reconcile_past_days,
    seconds_until_expiry,
)
from toko.services.payment.provider import CashOnDelivery, Midtrans, Provider, Xendit
from toko.services.payment.settings import PaymentSettings
from toko.services.payment.webhooks import NotificationApp

MIGRATIONS = Path(__file__).parent / "migrations"
# After a round that expired something, look again this soon.
BUSY_INTERVAL_SECONDS = 1.0


async def bootstrap(settings: PaymentSettings) -> ServiceApp:
    """Build the service: its outbox relay, the notification endpoint, the expiry worker, and the
    subscription to its own events that wakes WatchPayment's streams."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-payment", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    http = httpx.AsyncClient(timeout=settings.provider_timeout_seconds)
    providers: list[Provider] = [
        Midtrans(http, settings.midtrans_base_url, settings.midtrans_server_key),
        Xendit(
            http,
            settings.xendit_base_url,
            settings.xendit_secret_key,
            settings.xendit_callback_token,
            success_redirect_url=settings.xendit_success_redirect_url,
        ),
        CashOnDelivery(),
    ]
    payments = Payments(database=database, providers={provider.code: provider for provider in providers})

    # Every replica hears every change (a plain subscription, not a shared consumer): a buyer's stream
    # may be served by any of them.
    async def on_change(message: Msg) -> None:
        await payments.changes.on_message(message.data)

    changes = await connection.subscribe(event_subject(SOURCE, "*"), cb=on_change)
    notifications = EmbeddedListener(
        NotificationApp(payments, tolerance=timedelta(seconds=settings.webhook_tolerance_seconds)),
        host=settings.host,
        port=settings.http_port,
    )
    expiry = batch_worker(
        partial(expire_due, payments),
        what="expiring unpaid payments",
        batch_size=settings.expiry_batch_size,
        interval=BUSY_INTERVAL_SECONDS,
        idle_interval=settings.expiry_idle_seconds,
        next_due=partial(seconds_until_expiry, payments),
    )

    async def reconciliation(limit: int) -> int:
        return await reconcile_past_days(payments, settings.reconciliation_catch_up_days)

    reconciler = batch_worker(
        reconciliation,
        what="reconciling the past days' settlement reports",
        batch_size=1,
        interval=settings.reconciliation_check_seconds,
        idle_interval=settings.reconciliation_check_seconds,
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["PaymentService"],
                servicer=PaymentServicer(payments),
                register=add_PaymentServiceServicer_to_server,
            )
        ],
        workers=[notifications.run, relay.run, expiry, reconciler],
        on_stop=[changes.unsubscribe, connection.drain, http.aclose, database.dispose],
    )
