"""Wires the user service: database and migrations, password hashing, servicer, event relay and consumers."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import nats

from toko.platform.consumer import EventConsumer
from toko.platform.db import Database, open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.secrets import Sealer, derive_key, load_master_secret
from toko.platform.service import ServiceApp
from toko.services.user.consumers import (
    CATALOG_CONSUMER,
    CATALOG_SUBJECTS,
    INVENTORY_SOURCE,
    PRODUCT_SOURCE,
    STOCK_CONSUMER,
    STOCK_SUBJECTS,
    ProductSummaries,
)
from toko.services.user.grpc_api import UserServicer
from toko.services.user.handlers import SOURCE, Users, totp
from toko.services.user.passwords import PasswordHashing
from toko.services.user.settings import UserSettings
from toko.user.v1 import user_pb2, user_pb2_grpc

MIGRATIONS = Path(__file__).parent / "migrations"

log = logging.getLogger(__name__)


def build_users(settings: UserSettings, database: Database) -> Users:
    """The use cases' dependencies."""
    master = load_master_secret(settings.data_dir, SOURCE)
    return Users(
        database=database,
        hashing=PasswordHashing(),
        sealer=Sealer(derive_key(master, SOURCE, "totp-secret encryption")),
        links_base_url=settings.public_base_url,
        verification_ttl=timedelta(seconds=settings.email_verification_ttl_seconds),
        reset_ttl=timedelta(seconds=settings.password_reset_ttl_seconds),
    )


async def bootstrap(settings: UserSettings) -> ServiceApp:
    """Build the user service with its outbox relay and the consumers keeping the product summaries."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-user", max_reconnect_attempts=-1)
    # The catalog's and the inventory's streams too (the same definitions those services ensure), so that
    # the consumers of their events bind whichever service starts first, without polling for the streams.
    await ensure_streams(connection.jetstream(), [SOURCE, PRODUCT_SOURCE, INVENTORY_SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    summaries = ProductSummaries()
    catalog = EventConsumer(
        name=CATALOG_CONSUMER,
        stream=stream_name(PRODUCT_SOURCE),
        subjects=CATALOG_SUBJECTS,
        database=database,
        nats=connection,
        handler=summaries,
        service=SOURCE,
    )
    stock = EventConsumer(
        name=STOCK_CONSUMER,
        stream=stream_name(INVENTORY_SOURCE),
        subjects=STOCK_SUBJECTS,
        database=database,
        nats=connection,
        handler=summaries,
        service=SOURCE,
    )
    users = build_users(settings, database)
    sealed = await totp.seal_stored_secrets(database, users.sealer)
    if sealed:
        log.info("sealed TOTP secrets stored in the clear", extra={"count": sealed})
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=user_pb2.DESCRIPTOR.services_by_name["UserService"],
                servicer=UserServicer(users),
                register=user_pb2_grpc.add_UserServiceServicer_to_server,
            )
        ],
        workers=[relay.run, catalog.run, stock.run],
        on_stop=[connection.drain, database.dispose],
    )
