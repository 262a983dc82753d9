"""The platform tables as a service's first Alembic migration creates and drops them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, ensure_database, service_database_url
from toko.platform.schema import PLATFORM_TABLES, create_platform_tables, drop_platform_tables


@pytest.fixture
async def empty_database(infrastructure: InfraEndpoints) -> AsyncIterator[Database]:
    url = service_database_url(infrastructure.database_url, f"schema_{uuid.uuid4().hex[:8]}")
    await ensure_database(url)
    db = Database(url, pool_size=1)
    yield db
    await db.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _unsent_index(connection: Connection) -> list[dict[str, object]]:
    return [dict(index) for index in inspect(connection).get_indexes("outbox")]


async def test_the_migration_helpers_create_and_drop_the_platform_tables(empty_database: Database) -> None:
    async with empty_database.engine.begin() as connection:
        await connection.run_sync(lambda c: create_platform_tables(Operations(MigrationContext.configure(c))))
        assert set(PLATFORM_TABLES) <= await connection.run_sync(_tables)
        (index,) = await connection.run_sync(_unsent_index)
        assert index["column_names"] == ["created_at", "id"]
        assert "sent_at IS NULL" in str(index["dialect_options"])

        await connection.run_sync(lambda c: drop_platform_tables(Operations(MigrationContext.configure(c))))
        assert not set(PLATFORM_TABLES) & await connection.run_sync(_tables)


async def test_a_failed_statement_does_not_carry_its_other_values_into_the_logs(database: Database) -> None:
    # The error of a failed statement is logged with its traceback. It used to list every value bound to
    # the statement (a whole INSERT's, password hash and email included); now only what the driver or
    # PostgreSQL quote about the value at fault remains.
    secret = f"s3cret-{uuid.uuid4().hex}"
    with pytest.raises(DBAPIError) as caught:
        async with database.sessions() as session:
            await session.execute(
                text("SELECT CAST(:bad AS integer), CAST(:secret AS text)"), {"bad": "dua", "secret": secret}
            )

    assert "CAST" in str(caught.value)
    assert secret not in str(caught.value)
