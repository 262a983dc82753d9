"""Fixtures for the user service's integration tests: a real service on a fresh database per module."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qs, urlsplit

import grpc
import nats
import pytest
from google.protobuf.message import Message
from user_testkit import unique_email, user_settings

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.services.user.bootstrap import bootstrap
from toko.services.user.settings import UserSettings
from toko.user.v1 import events_pb2, user_pb2_grpc
from toko.user.v1 import user_pb2 as pb

Stub = user_pb2_grpc.UserServiceStub


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints, request: pytest.FixtureRequest) -> UserSettings:
    """Settings with a fresh database for this test module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return user_settings(infrastructure, f"{module}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def service(settings: UserSettings) -> AsyncIterator[RunningService]:
    """The user service, bootstrapped as in production, serving on a free port."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[Stub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield user_pb2_grpc.UserServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: UserSettings) -> AsyncIterator[Database]:
    """The service's database, to check what was (not) written."""
    db = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    yield db
    await db.dispose()


class EventLog:
    """Every event the user service published while the module ran, as a test reads them."""

    def __init__(self) -> None:
        self.envelopes: list[EventEnvelope] = []
        self.arrived = asyncio.Event()

    async def collect(self, message: nats.aio.msg.Msg) -> None:
        self.envelopes.append(EventEnvelope.FromString(message.data))
        self.arrived.set()

    def of(self, event_type: type[Message], subject: str) -> list[Message]:
        """The payloads of ``event_type`` about ``subject`` received so far."""
        found = []
        for envelope in self.envelopes:
            if envelope.subject == subject and envelope.type == event_type.DESCRIPTOR.full_name:
                payload = event_type()
                envelope.payload.Unpack(payload)
                found.append(payload)
        return found

    async def wait_for(
        self, event_type: type[Message], subject: str, count: int = 1, within: float = 10.0
    ) -> list[Message]:
        """Wait until ``count`` events of ``event_type`` about ``subject`` have arrived."""
        async with asyncio.timeout(within):
            while len(found := self.of(event_type, subject)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return found


@pytest.fixture(scope="module")
async def events(service: RunningService, infrastructure: InfraEndpoints) -> AsyncIterator[EventLog]:
    """The events published on ``toko.user.>`` from now on."""
    log = EventLog()
    client = await nats.connect(infrastructure.nats_url)
    subscription = await client.subscribe("toko.user.>", cb=log.collect)
    yield log
    await subscription.unsubscribe()
    await client.close()


SignUp = Callable[..., Awaitable[tuple[pb.User, str]]]


@pytest.fixture
def sign_up(stub: Stub, events: EventLog) -> SignUp:
    """Create an account; returns it and its password. ``verified=True`` also follows the emailed link."""

    async def create(
        *, email: str = "", password: str = "Kopi-Susu-Gula-Aren-2025", verified: bool = False, **fields: str
    ) -> tuple[pb.User, str]:
        request = pb.SignUpRequest(
            email=email or unique_email(),
            password=password,
            name=fields.pop("name", "Budi Santoso"),
            **fields,
        )
        user = (await stub.SignUp(request)).user
        if verified:
            [requested] = await events.wait_for(events_pb2.EmailVerificationRequested, user.id)
            link = urlsplit(requested.verification_url)  # type: ignore[attr-defined]
            token = parse_qs(link.query)["token"][0]
            user = (await stub.VerifyEmail(pb.VerifyEmailRequest(token=token))).user
        return user, password

    return create
