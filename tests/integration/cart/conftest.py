"""Fixtures for the cart service's integration tests: a real cart service and a real product service,
each on a fresh database per module."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from cart_testkit import ADMIN, Products, Stub, cart_settings, product_settings

from toko.cart.v1 import cart_pb2_grpc
from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, service_database_url
from toko.platform.service import RunningService, start_service
from toko.product.v1 import product_pb2 as ppb
from toko.product.v1 import product_pb2_grpc
from toko.services.cart.bootstrap import bootstrap
from toko.services.cart.settings import CartSettings
from toko.services.product.bootstrap import bootstrap as product_bootstrap


def _module(request: pytest.FixtureRequest) -> str:
    return str(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture(scope="module")
async def product_service(
    infrastructure: InfraEndpoints, request: pytest.FixtureRequest
) -> AsyncIterator[RunningService]:
    """The product service the cart prices from, bootstrapped as in production."""
    settings = product_settings(infrastructure, f"{_module(request)}_product_{uuid.uuid4().hex[:8]}")
    running = await start_service(await product_bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def products(product_service: RunningService) -> AsyncIterator[Products]:
    """A gRPC client of the product service, to create and change what carts hold."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{product_service.port}") as channel:
        yield product_pb2_grpc.ProductServiceStub(channel)


@pytest.fixture(scope="module")
async def category(products: Products) -> str:
    """A category to put products in."""
    reply = await products.CreateCategory(
        ppb.CreateCategoryRequest(name=f"Kategori {uuid.uuid4().hex[:6]}"), metadata=ADMIN
    )
    return reply.category.id


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints, product_service: RunningService, request: pytest.FixtureRequest
) -> CartSettings:
    """Settings with a fresh database for this test module, pointing at the product service."""
    return cart_settings(
        infrastructure, f"{_module(request)}_{uuid.uuid4().hex[:8]}", f"127.0.0.1:{product_service.port}"
    )


@pytest.fixture(scope="module")
async def service(settings: CartSettings) -> AsyncIterator[RunningService]:
    """The cart service, bootstrapped as in production, serving on a free port."""
    running = await start_service(await bootstrap(settings), settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def stub(service: RunningService) -> AsyncIterator[Stub]:
    """A gRPC client of the service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield cart_pb2_grpc.CartServiceStub(channel)


@pytest.fixture(scope="module")
async def database(service: RunningService, settings: CartSettings) -> AsyncIterator[Database]:
    """The service's database, to check what was (not) written."""
    db = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    yield db
    await db.dispose()
