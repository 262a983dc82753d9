"""Wires the service: database and migrations, the account events it follows, the sender, the servicer."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from pathlib import Path

import nats

from toko.notification.v1 import notification_pb2 as pb
from toko.notification.v1.notification_pb2_grpc import add_NotificationServiceServicer_to_server
from toko.platform.consumer import EventConsumer
from toko.platform.db import open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import batch_worker
from toko.services.notification.consumers import (
    ACCOUNT_EMAILS_CONSUMER,
    ACCOUNT_EMAILS_SUBJECTS,
    AUTH_SOURCE,
    SIGN_IN_WARNINGS_CONSUMER,
    SIGN_IN_WARNINGS_SUBJECTS,
    USER_SOURCE,
    AccountEmails,
)
from toko.services.notification.domain import RetryPolicy
from toko.services.notification.grpc_api import NotificationServicer
from toko.services.notification.handlers import SOURCE, Notifications, deliver_due, seconds_until_due
from toko.services.notification.mailer import SmtpRelay
from toko.services.notification.settings import NotificationSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# After a round that sent something, look again this soon (more may have come due meanwhile).
BUSY_INTERVAL_SECONDS = 1.0


async def bootstrap(settings: NotificationSettings) -> ServiceApp:
    """Build the service: its consumers of account events, the sender worker and the outbox relay."""
    relay_to = SmtpRelay.from_url(settings.smtp_url)
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-notification", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE, USER_SOURCE, AUTH_SOURCE])
    notifications = Notifications(
        database=database,
        relay=relay_to,
        sender=settings.mail_from,
        retry=RetryPolicy(first_delay=timedelta(seconds=settings.first_retry_seconds)),
    )
    outbox = OutboxRelay(database, connection, source=SOURCE)
    handler = AccountEmails(notifications)
    consumers = [
        EventConsumer(
            name=name,
            stream=stream_name(source),
            subjects=subjects,
            database=database,
            nats=connection,
            handler=handler,
            service=SOURCE,
        )
        for name, source, subjects in (
            (ACCOUNT_EMAILS_CONSUMER, USER_SOURCE, ACCOUNT_EMAILS_SUBJECTS),
            (SIGN_IN_WARNINGS_CONSUMER, AUTH_SOURCE, SIGN_IN_WARNINGS_SUBJECTS),
        )
    ]
    sender = batch_worker(
        partial(_deliver, notifications),
        what="sending notifications",
        batch_size=settings.send_batch_size,
        interval=BUSY_INTERVAL_SECONDS,
        idle_interval=settings.idle_poll_seconds,
        next_due=partial(seconds_until_due, notifications=notifications),
        wake=notifications.wake,
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["NotificationService"],
                servicer=NotificationServicer(notifications),
                register=add_NotificationServiceServicer_to_server,
            )
        ],
        workers=[outbox.run, sender, *(consumer.run for consumer in consumers)],
        on_stop=[connection.drain, database.dispose],
    )


async def _deliver(notifications: Notifications, batch_size: int) -> int:
    return await deliver_due(notifications=notifications, batch_size=batch_size)
