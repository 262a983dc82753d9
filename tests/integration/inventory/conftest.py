"""Fixtures for the inventory service's integration tests: a real service on a fresh database per module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from inventory_testkit import Stub, inventory_settings

from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import inventory_pb2_grpc
from toko.platform.cache import create_valkey
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.services.inventory.bootstrap import bootstrap
from toko.services.inventory.counters import FlashSaleCounters
from toko.services.inventory.handlers import Inventory
from toko.services.inventory.settings import InventorySettings


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints, request: pytest.FixtureRequest) -> InventorySettings:
    """Settings with a fresh database for this test module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return inventory_settings(infrastructure, f"{module}_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def service(settings: InventorySettings) -> AsyncIterator[RunningService]:
    """The inventory service, bootstrapped as in production, serving on a free port."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[Stub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield inventory_pb2_grpc.InventoryServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: InventorySettings) -> AsyncIterator[Database]:
    """The service's database, to check what was (not) written and to call the use cases directly."""
    db = Database(service_database_url(settings.database_url, settings.database_name), pool_size=8)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
async def inventory(database: Database, settings: InventorySettings) -> AsyncIterator[Inventory]:
    """The use cases' dependencies on the service's database and Valkey, as another replica would hold them."""
    valkey = create_valkey(settings.redis_url)
    yield Inventory(database=database, flash_sales=FlashSaleCounters(valkey))
    await valkey.aclose()
