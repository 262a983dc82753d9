"""Fixtures for the notification service's integration tests: a real service on a fresh database per module."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import nats
import pytest
from nats.js import JetStreamContext
from notification_testkit import Eventually, Relay, notification_settings

from toko.infra.servers import InfraEndpoints
from toko.notification.v1 import notification_pb2_grpc
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.sandbox.mail.mailbox import Mailbox
from toko.sandbox.mail.smtp import RecipientFaults, start_smtp
from toko.services.notification.bootstrap import bootstrap
from toko.services.notification.settings import NotificationSettings


@pytest.fixture(scope="module")
async def relay(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Relay]:
    """The sandbox's SMTP server, in this process: what the service sends lands in its mailbox."""
    mailbox = await Mailbox.open(tmp_path_factory.mktemp("mail"), max_messages=1000)
    faults = RecipientFaults()
    server = await start_smtp(mailbox, host="127.0.0.1", port=0, max_message_bytes=1 << 20, faults=faults)
    port = server.sockets[0].getsockname()[1]
    yield Relay(mailbox=mailbox, faults=faults, url=f"smtp://127.0.0.1:{port}")
    server.close()
    await server.wait_closed()


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints, relay: Relay, request: pytest.FixtureRequest
) -> NotificationSettings:
    """Settings with a fresh database for this test module, sending to the module's relay; deferred
    mail is retried after a fifth of a second instead of a minute."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return notification_settings(
        infrastructure, f"{module}_{uuid.uuid4().hex[:8]}", smtp_url=relay.url, first_retry_seconds=0.2
    )


@pytest.fixture(scope="module")
async def jetstream(infrastructure: InfraEndpoints) -> AsyncIterator[JetStreamContext]:
    """A JetStream client, to publish events as the user and auth services do."""
    connection = await nats.connect(infrastructure.nats_url)
    yield connection.jetstream()
    await connection.drain()


@pytest.fixture(scope="module")
async def service(settings: NotificationSettings) -> AsyncIterator[RunningService]:
    """The notification service, bootstrapped as in production, serving on a free port."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[notification_pb2_grpc.NotificationServiceStub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield notification_pb2_grpc.NotificationServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: NotificationSettings) -> AsyncIterator[Database]:
    """The service's database, to check what was (not) written."""
    db = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    yield db
    await db.dispose()


@pytest.fixture
def eventually() -> Eventually:
    """Wait until an async condition holds, failing the test after ten seconds."""

    async def wait(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
        deadline = time.monotonic() + within
        while not await check():
            if time.monotonic() > deadline:
                pytest.fail(f"condition not met within {within} s")
            await asyncio.sleep(0.05)

    return wait
