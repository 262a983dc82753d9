"""Fixtures for the platform's integration tests: a fresh service database per module, NATS, Valkey."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import nats
import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from nats.aio.client import Client as NATS
from redis.asyncio import Redis
from sqlalchemy import Connection, text

from toko.infra.netcheck import free_port
from toko.infra.servers import InfraEndpoints
from toko.infra.tcpservers import NatsServer
from toko.platform.cache import create_valkey
from toko.platform.db import Database, ensure_database, service_database_url
from toko.platform.schema import create_platform_tables


def _migrate(connection: Connection) -> None:
    # The same helper a service's first Alembic migration calls.
    create_platform_tables(Operations(MigrationContext.configure(connection)))


@pytest.fixture(scope="module")
async def database(infrastructure: InfraEndpoints, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    """A fresh database with the platform tables, for one test module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    url = service_database_url(infrastructure.database_url, f"{module}_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    db = Database(url, pool_size=4)
    async with db.engine.begin() as connection:
        await connection.run_sync(_migrate)
        await connection.execute(text("CREATE TABLE handled (event_id text NOT NULL, note text)"))
    yield db
    await db.dispose()


@pytest.fixture
async def nats_client(infrastructure: InfraEndpoints) -> AsyncIterator[NATS]:
    """A NATS connection, closed after the test."""
    client = await nats.connect(infrastructure.nats_url)
    yield client
    await client.close()


@pytest.fixture
async def valkey(infrastructure: InfraEndpoints) -> AsyncIterator[Redis]:
    """A Valkey client on the session's server."""
    client = create_valkey(infrastructure.redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def source() -> str:
    """An event source name of its own, so each test has its own stream."""
    return f"t{uuid.uuid4().hex[:10]}"


Eventually = Callable[..., Awaitable[None]]


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


@pytest.fixture
def restartable_nats(tmp_path: Path) -> Iterator[NatsServer]:
    """A NATS server of the test's own, to stop and start again (same port and store) under running code."""
    server = NatsServer(free_port(), free_port(), tmp_path / "jetstream", tmp_path / "nats.log")
    server.launch()
    server.wait_ready(15)
    yield server
    server.stop()
