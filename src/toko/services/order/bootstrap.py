"""Wires the service: database and migrations, events, servicer and workers."""

from __future__ import annotations

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
from toko.services.order.consumers import NOTES_SEEN_CONSUMER, NOTES_SEEN_SUBJECTS, NotesSeen
from toko.services.order.grpc_api import OrderServicer
from toko.services.order.handlers import SOURCE, Notes
from toko.services.order.settings import OrderSettings

MIGRATIONS = Path(__file__).parent / "migrations"


async def bootstrap(settings: OrderSettings) -> ServiceApp:
    """Build the service with its outbox relay and its consumer of its own events."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-order", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    seen = EventConsumer(
        name=NOTES_SEEN_CONSUMER,
        stream=stream_name(SOURCE),
        subjects=NOTES_SEEN_SUBJECTS,
        database=database,
        nats=connection,
        handler=NotesSeen(),
        service=SOURCE,
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["OrderService"],
                servicer=OrderServicer(Notes(database=database)),
                register=add_OrderServiceServicer_to_server,
            )
        ],
        workers=[relay.run, seen.run],
        on_stop=[connection.drain, database.dispose],
    )
