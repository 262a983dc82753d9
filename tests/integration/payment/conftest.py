"""Fixtures for the payment service's integration tests: the real service on a fresh database, the
sandbox's stand-in provider in this process notifying it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import httpx
import pytest
from payment_testkit import (
    CALLBACK_TOKEN,
    SERVER_KEY,
    SUCCESS_REDIRECT_URL,
    XENDIT_SECRET_KEY,
    payment_settings,
)

from toko.infra.netcheck import free_port
from toko.infra.servers import InfraEndpoints
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.sandbox.app import RunningSandbox, start_sandbox
from toko.sandbox.settings import SandboxSettings
from toko.services.payment.bootstrap import bootstrap
from toko.services.payment.settings import PaymentSettings


@pytest.fixture(scope="module")
def notification_port() -> int:
    """The port of the service's notification listener."""
    return free_port()


@pytest.fixture(scope="module")
async def sandbox(
    tmp_path_factory: pytest.TempPathFactory, notification_port: int
) -> AsyncIterator[RunningSandbox]:
    """The stand-in provider, notifying the service directly."""
    settings = SandboxSettings.model_validate(
        {
            "port": 0,
            "smtp_port": 0,
            "data_dir": tmp_path_factory.mktemp("sandbox"),
            "shutdown_grace_seconds": 1.0,
            "payment_server_key": SERVER_KEY,
            "payment_webhook_url": f"http://127.0.0.1:{notification_port}/webhooks/payments/{{provider}}",
            "xendit_secret_key": XENDIT_SECRET_KEY,
            "xendit_callback_token": CALLBACK_TOKEN,
            "payment_webhook_first_retry_seconds": 0.1,
            "courier_webhook_url": "",
        }
    )
    running = await start_sandbox(settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints,
    request: pytest.FixtureRequest,
    sandbox: RunningSandbox,
    notification_port: int,
) -> PaymentSettings:
    """Settings with a fresh database, calling the module's sandbox provider."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return payment_settings(
        infrastructure,
        f"{module}_{uuid.uuid4().hex[:8]}",
        http_port=notification_port,
        midtrans_base_url=f"http://127.0.0.1:{sandbox.http_port}/payments/midtrans",
        midtrans_server_key=SERVER_KEY,
        xendit_base_url=f"http://127.0.0.1:{sandbox.http_port}/payments/xendit",
        xendit_secret_key=XENDIT_SECRET_KEY,
        xendit_callback_token=CALLBACK_TOKEN,
        xendit_success_redirect_url=SUCCESS_REDIRECT_URL,
    )


@pytest.fixture(scope="module")
async def service(settings: PaymentSettings) -> AsyncIterator[RunningService]:
    """The payment service, bootstrapped as in production."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[payment_pb2_grpc.PaymentServiceStub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield payment_pb2_grpc.PaymentServiceStub(channel)


@pytest.fixture(scope="module")
async def provider(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the sandbox's payment pages and control API."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.http_port}/payments") as client:
        yield client


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: PaymentSettings) -> AsyncIterator[Database]:
    """The service's database, to check what was (not) written."""
    db = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    yield db
    await db.dispose()
