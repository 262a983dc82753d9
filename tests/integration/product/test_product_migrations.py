"""The product service's migrations: up from an empty database, down to nothing, and up again."""

from __future__ import annotations

import asyncio
import uuid

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import URL

from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, ensure_database, run_migrations, service_database_url
from toko.services.product.bootstrap import MIGRATIONS

CATALOG_TABLES = {"categories", "products", "skus", "outbox", "inbox", "idempotency_keys"}
PRICING_TABLES = {
    "sku_pricing",
    "price_history",
    "price_schedules",
    "campaigns",
    "campaign_skus",
    "price_boundaries",
    "sku_stock_signals",
    "sku_daily_sales",
    "product_current_prices",
}


def alembic_config(url: URL) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%"))
    return config


async def tables(url: URL) -> set[str]:
    database = Database(url, pool_size=1)
    try:
        async with database.engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {row.tablename for row in rows} - {"alembic_version"}
    finally:
        await database.dispose()


async def test_migrations_go_up_from_empty_down_to_base_and_up_again(infrastructure: InfraEndpoints) -> None:
    url = service_database_url(infrastructure.database_url, f"migrations_{uuid.uuid4().hex[:8]}")
    assert await ensure_database(url)
    assert await tables(url) == set()

    await asyncio.to_thread(run_migrations, url, MIGRATIONS)
    after_up = await tables(url)
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    after_down = await tables(url)
    await asyncio.to_thread(run_migrations, url, MIGRATIONS)
    await asyncio.to_thread(run_migrations, url, MIGRATIONS)  # at head already: nothing to do

    assert after_up == CATALOG_TABLES | PRICING_TABLES
    assert after_down == set()
    assert await tables(url) == CATALOG_TABLES | PRICING_TABLES
