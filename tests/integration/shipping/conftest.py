"""Fixtures for the shipping service's integration tests: a real service on a fresh database per module."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc
import httpx
import pytest
from shipping_testkit import WEBHOOK_SECRET, Eventually, shipping_settings

from toko.infra.netcheck import free_port
from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.sandbox.app import RunningSandbox, start_sandbox
from toko.sandbox.settings import SandboxSettings
from toko.services.shipping.bootstrap import build
from toko.services.shipping.settings import ShippingSettings
from toko.shipping.v1 import shipping_pb2_grpc


@pytest.fixture(scope="module")
def webhook_port() -> int:
    """The port of the service's courier webhook listener."""
    return free_port()


@pytest.fixture(scope="module")
async def sandbox(
    tmp_path_factory: pytest.TempPathFactory, webhook_port: int
) -> AsyncIterator[RunningSandbox]:
    """The sandbox's couriers, in this process, sending their webhooks to the service."""
    settings = SandboxSettings.model_validate(
        {
            "port": 0,
            "smtp_port": 0,
            "data_dir": tmp_path_factory.mktemp("sandbox"),
            "shutdown_grace_seconds": 1.0,
            "courier_webhook_url": f"http://127.0.0.1:{webhook_port}/webhooks/couriers/{{courier}}",
            "courier_webhook_secret": WEBHOOK_SECRET,
            "courier_webhook_first_retry_seconds": 0.1,
        }
    )
    running = await start_sandbox(settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints, request: pytest.FixtureRequest, sandbox: RunningSandbox, webhook_port: int
) -> ShippingSettings:
    """Settings with a fresh database for this test module, calling the module's sandbox couriers."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return shipping_settings(
        infrastructure,
        f"{module}_{uuid.uuid4().hex[:8]}",
        http_port=webhook_port,
        courier_base_url=f"http://127.0.0.1:{sandbox.http_port}/couriers",
        courier_webhook_secret=WEBHOOK_SECRET,
        courier_timeout_seconds=1.0,
    )


@pytest.fixture(scope="module")
async def service(settings: ShippingSettings) -> AsyncIterator[RunningService]:
    """The shipping service, built as in production, serving on a free port."""
    running = await start_service((await build(settings)).app, settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def couriers(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the sandbox's couriers (their control API: moving parcels on)."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.http_port}/couriers") as client:
        yield client


@pytest.fixture(scope="module")
async def webhooks(service: RunningService, webhook_port: int) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the service's courier webhook endpoint."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{webhook_port}/webhooks/couriers") as client:
        yield client


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[shipping_pb2_grpc.ShippingServiceStub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield shipping_pb2_grpc.ShippingServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: ShippingSettings) -> AsyncIterator[Database]:
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
