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


async def test_products_priced_before_the_storefront_migrations_keep_their_prices_and_stock(
    infrastructure: InfraEndpoints,
) -> None:
    url = service_database_url(infrastructure.database_url, f"migrations_{uuid.uuid4().hex[:8]}")
    assert await ensure_database(url)
    await asyncio.to_thread(command.upgrade, alembic_config(url), "0003")
    category, product, cheap, dear = (str(uuid.uuid4()) for _ in range(4))
    database = Database(url, pool_size=1)
    try:
        async with database.engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO categories (id, name, slug, path) VALUES (:c, 'Kopi', 'kopi', ARRAY[:c]::uuid[])"
                ),
                {"c": category},
            )
            await connection.execute(
                text(
                    """
                    INSERT INTO products (id, shop_id, category_id, title, slug, description, condition, status,
                        attributes, image_urls, weight_grams, length_mm, width_mm, height_mm, options,
                        min_price, max_price, currency, created_at, updated_at, version)
                    VALUES (:p, gen_random_uuid(), :c, 'Kopi Gayo', 'kopi-gayo', '', 'new', 'active', '[]', '[]',
                        250, 0, 0, 0, '[]', 85000, 95000, 'IDR', now(), now(), 1)
                    """
                ),
                {"p": product, "c": category},
            )
            await connection.execute(
                text(
                    """
                    INSERT INTO skus (id, product_id, code, option_values, price, currency, position)
                    VALUES (:cheap, :p, 'G-250', '{}', 85000, 'IDR', 0), (:dear, :p, 'G-500', '{}', 95000, 'IDR', 1)
                    """
                ),
                {"cheap": cheap, "dear": dear, "p": product},
            )
            # The dearer SKU is on a schedule at 79,000 and inventory said a few are left.
            await connection.execute(
                text(
                    """
                    INSERT INTO sku_pricing (sku_id, current_price, current_source)
                    VALUES (:cheap, 85000, 'base'), (:dear, 79000, 'schedule')
                    """
                ),
                {"cheap": cheap, "dear": dear},
            )
            await connection.execute(
                text(
                    "INSERT INTO sku_stock_signals (sku_id, available, availability_version) VALUES (:s, 1, 7)"
                ),
                {"s": dear},
            )
        await asyncio.to_thread(run_migrations, url, MIGRATIONS)
        async with database.engine.connect() as connection:
            prices = (
                await connection.execute(
                    text("SELECT min_price, max_price FROM product_current_prices WHERE product_id = :p"),
                    {"p": product},
                )
            ).one()
            stock = (
                await connection.execute(
                    text("SELECT in_stock, quantity_bucket FROM sku_stock_signals WHERE sku_id = :s"),
                    {"s": dear},
                )
            ).one()
    finally:
        await database.dispose()

    assert tuple(prices) == (79_000, 85_000)
    assert tuple(stock) == (True, "1-5")
