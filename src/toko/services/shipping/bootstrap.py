"""Wires the service: database and migrations, events, servicer and workers."""

from __future__ import annotations

from pathlib import Path

import nats

from toko.platform.db import open_service_database
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.services.shipping.grpc_api import ShippingServicer
from toko.services.shipping.handlers import SOURCE
from toko.services.shipping.settings import ShippingSettings
from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1.shipping_pb2_grpc import add_ShippingServiceServicer_to_server

MIGRATIONS = Path(__file__).parent / "migrations"


async def bootstrap(settings: ShippingSettings) -> ServiceApp:
    """Build the service with its outbox relay."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-shipping", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["ShippingService"],
                servicer=ShippingServicer(),
                register=add_ShippingServiceServicer_to_server,
            )
        ],
        workers=[relay.run],
        on_stop=[connection.drain, database.dispose],
    )
