"""Wires the service: database and migrations, the outbox relay, the servicer and the expiry worker."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import nats

from toko.platform.db import open_service_database
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.service import ServiceApp
from toko.platform.workers import batch_worker
from toko.promotion.v1 import promotion_pb2 as pb
from toko.promotion.v1.promotion_pb2_grpc import add_PromotionServiceServicer_to_server
from toko.services.promotion.grpc_api import PromotionServicer
from toko.services.promotion.handlers import SOURCE, Promotions, release_lapsed, seconds_until_lapse
from toko.services.promotion.settings import PromotionSettings

MIGRATIONS = Path(__file__).parent / "migrations"
# After a round that released something, look again this soon (more may have lapsed meanwhile).
BUSY_INTERVAL_SECONDS = 1.0


async def bootstrap(settings: PromotionSettings) -> ServiceApp:
    """Build the service with its outbox relay and the worker releasing lapsed holds."""
    database = await open_service_database(settings, MIGRATIONS)
    connection = await nats.connect(settings.nats_url, name="toko-promotion", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE])
    relay = OutboxRelay(database, connection, source=SOURCE)
    promotions = Promotions(database=database)
    lapses = batch_worker(
        partial(_release, promotions),
        what="releasing lapsed voucher holds",
        batch_size=settings.release_batch_size,
        interval=BUSY_INTERVAL_SECONDS,
        idle_interval=settings.idle_poll_seconds,
        next_due=partial(seconds_until_lapse, promotions=promotions),
        wake=promotions.wake,
    )
    return ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=pb.DESCRIPTOR.services_by_name["PromotionService"],
                servicer=PromotionServicer(promotions),
                register=add_PromotionServiceServicer_to_server,
            )
        ],
        workers=[relay.run, lapses],
        on_stop=[connection.drain, database.dispose],
    )


async def _release(promotions: Promotions, batch_size: int) -> int:
    return await release_lapsed(promotions=promotions, batch_size=batch_size)
