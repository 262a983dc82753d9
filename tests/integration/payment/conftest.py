"""Fixtures for the payment service's integration tests: a real service on a fresh database per module."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import pytest
from payment_testkit import Eventually, payment_settings

from toko.infra.servers import InfraEndpoints
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.services.payment.bootstrap import bootstrap
from toko.services.payment.settings import PaymentSettings


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints, request: pytest.FixtureRequest) -> PaymentSettings:
    """Settings with a fresh database for this test module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return payment_settings(infrastructure, f"{module}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def service(settings: PaymentSettings) -> AsyncIterator[RunningService]:
    """The payment service, bootstrapped as in production, serving on a free port."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[payment_pb2_grpc.PaymentServiceStub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: PaymentSettings) -> AsyncIterator[Database]:
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
