"""The demo marketplace seed: big enough to browse, fast, and idempotent."""

from __future__ import annotations

import uuid

from product_testkit import product_settings
from sqlalchemy import func, select

from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, service_database_url
from toko.platform.demo import demo_sku_id
from toko.platform.schema import outbox
from toko.services.product.demo_data import SHOPS
from toko.services.product.repository.tables import categories, products, skus
from toko.services.product.seed import demo_products, seed


async def count(database: Database, *queries: object) -> list[int]:
    async with database.sessions() as session:
        return [int((await session.execute(query)).scalar_one()) for query in queries]  # type: ignore[call-overload]


def test_the_generated_catalogue_is_the_same_every_time() -> None:
    first = demo_products("http://img")
    second = demo_products("http://img")

    assert first == second
    assert len({(p.shop.id, p.spec.slug) for p in first}) == len(first)


def test_demo_pictures_are_the_svgs_the_gateway_draws_from_their_names() -> None:
    generated = demo_products("http://127.0.0.1:8080/static/demo")

    for product in generated:
        names = [url.removeprefix("http://127.0.0.1:8080/static/demo/") for url in product.spec.image_urls]
        assert names[0] == f"{product.spec.slug}.svg"
        assert names[1:] == [f"{product.spec.slug}-{n}.svg" for n in range(2, len(names) + 1)]


async def test_seeding_twice_builds_the_marketplace_once(infrastructure: InfraEndpoints) -> None:
    settings = product_settings(infrastructure, f"seed_{uuid.uuid4().hex[:8]}")

    first = await seed(settings)
    second = await seed(settings)

    database = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    try:
        product_count, category_count, shop_count, sku_count, events = await count(
            database,
            select(func.count()).select_from(products),
            select(func.count()).select_from(categories),
            select(func.count(func.distinct(products.c.shop_id))),
            select(func.count()).select_from(skus),
            select(func.count()).select_from(outbox).where(outbox.c.type == "toko.product.v1.ProductCreated"),
        )
        async with database.sessions() as session:
            seeded_skus = (
                await session.execute(select(skus.c.id, skus.c.code, products.c.shop_id).join(products))
            ).all()
    finally:
        await database.dispose()
    assert product_count >= 1_000
    assert category_count >= 20
    assert shop_count == len(SHOPS) >= 20
    assert sku_count > product_count
    assert events == product_count
    assert first.products_created == product_count
    assert (second.products_created, second.categories_created) == (0, 0)
    # The ids the inventory knows the seed's SKUs by (they, and no seller's later SKU, get opening stock).
    assert all(sku_id == demo_sku_id(shop_id, code) for sku_id, code, shop_id in seeded_skus)
