"""The demo marketplace: ``python -m toko.services.product.seed``.

Builds the category tree, and 1,200 products of 24 Indonesian shops, from
``demo_data`` with a seeded random generator: every run generates the same
catalogue, nothing is downloaded. Everything goes through the use cases, so the
rules hold and ProductCreated events flow through the outbox like any other. Its
SKUs' ids are the demo's (``toko.platform.demo.demo_sku_id``): the inventory gives
those, and no SKU a seller adds later, opening stock.
Running it again adds only what is missing (categories by parent and slug,
products by shop and slug), so a second run adds nothing.

It connects with the service's own settings (``TOKO_DATABASE_URL``,
``TOKO_PRODUCT_DATABASE_NAME``…).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import uvloop

from toko.platform.auth import Principal
from toko.platform.cache import create_valkey
from toko.platform.db import open_service_database
from toko.platform.demo import demo_sku_id
from toko.services.product.bootstrap import MIGRATIONS, product_cache
from toko.services.product.demo_data import CATEGORIES, OPTION_SETS, SHOPS, DemoCategory, DemoShop
from toko.services.product.domain.catalog import (
    Attribute,
    Condition,
    Dimensions,
    Money,
    ProductOption,
    ProductSpec,
    ProductStatus,
    SkuSpec,
    slugify,
)
from toko.services.product.handlers import Catalog
from toko.services.product.handlers.catalog import (
    CreateCategory,
    CreateProduct,
    create_category,
    create_products,
)
from toko.services.product.repository.catalog import CatalogRepository
from toko.services.product.settings import ProductSettings

PRODUCT_COUNT = 1_200
BATCH_SIZE = 100
RANDOM_SEED = 20_240_817  # 17 August: any fixed number keeps the catalogue the same run after run
T = TypeVar("T")
SEED_PRINCIPAL = Principal(subject="seed", roles=frozenset({"admin"}))


@dataclass(frozen=True)
class SeedReport:
    """What a seed run did."""

    categories_created: int
    products_created: int
    products_skipped: int
    seconds: float


@dataclass(frozen=True)
class DemoProduct:
    """A generated product, before its category has an id."""

    shop: DemoShop
    category: DemoCategory
    spec: ProductSpec


def _rounded(amount: float) -> int:
    # Prices as sellers write them: to the hundred, five hundred or thousand rupiah.
    step = 100 if amount < 20_000 else 500 if amount < 200_000 else 1_000
    return max(step, round(amount / step) * step)


def _options(rng: random.Random, category: DemoCategory) -> tuple[ProductOption, ...]:
    chosen = []
    for name, values in OPTION_SETS[category.options]:
        count = rng.randint(2, min(4, len(values)))
        picked = sorted(rng.sample(range(len(values)), count))
        chosen.append(ProductOption(name, tuple(values[i] for i in picked)))
    return tuple(chosen)


def _skus(
    rng: random.Random, options: Sequence[ProductOption], base: int, prefix: str
) -> tuple[SkuSpec, ...]:
    skus = []
    axes = [
        [(option.name, position, value) for position, value in enumerate(option.values)] for option in options
    ]
    for number, combination in enumerate(itertools.product(*axes), start=1):
        price = float(base)
        for name, position, _ in combination:
            # Bigger sizes, capacities and packs cost more; colours and flavours do not.
            if name in ("Ukuran", "Kapasitas"):
                price += base * (0.1 if name == "Ukuran" else 0.35) * position
            elif name == "Isi":
                price *= 1 + position * 0.9
        skus.append(
            SkuSpec(
                code=f"{prefix}-{number:02d}",
                option_values={name: value for name, _, value in combination},
                price=Money(_rounded(price)),
            )
        )
    if not skus:
        skus.append(SkuSpec(code=f"{prefix}-01", option_values={}, price=Money(_rounded(base))))
    return tuple(skus)


def demo_products(image_base_url: str) -> list[DemoProduct]:
    """The demo catalogue's products, the same on every call."""
    rng = random.Random(RANDOM_SEED)
    taken: set[tuple[str, str]] = set()
    generated: list[DemoProduct] = []
    for number in range(PRODUCT_COUNT):
        category = CATEGORIES[number % len(CATEGORIES)]
        shop = SHOPS[rng.randrange(len(SHOPS))]
        brand, detail = rng.choice(category.brands), rng.choice(category.details)
        title = f"{rng.choice(category.names)} {brand} {detail}"
        for series in itertools.count(2):
            if (shop.id, slugify(title)) not in taken:
                break
            title = f"{title.rsplit(' Seri ', 1)[0]} Seri {series}"
        slug = slugify(title)
        taken.add((shop.id, slug))
        low, high = category.price
        base = _rounded(rng.uniform(low, high))
        weight = max(10, round(rng.randint(*category.weight), -1))
        length = rng.randint(100, 600)
        options = _options(rng, category)
        generated.append(
            DemoProduct(
                shop=shop,
                category=category,
                spec=ProductSpec(
                    category_id="",
                    title=title,
                    slug=slug,
                    description=(
                        f"{title}. Produk {brand} dengan kualitas terbaik: {detail.lower()}.\n"
                        f"Dikirim dari {shop.city} setiap hari kerja sebelum pukul 15.00 WIB. "
                        "Barang 100% original, garansi uang kembali bila tidak sesuai."
                    ),
                    condition=Condition.USED if rng.random() < 0.05 else Condition.NEW,
                    status=ProductStatus.DRAFT if rng.random() < 0.03 else ProductStatus.ACTIVE,
                    attributes=(
                        Attribute("Merek", brand),
                        Attribute("Spesifikasi", detail),
                        Attribute("Dikirim dari", shop.city),
                    ),
                    image_urls=tuple(
                        f"{image_base_url}/{slug}{'' if n == 1 else f'-{n}'}.svg"
                        for n in range(1, rng.randint(2, 4))
                    ),
                    weight_grams=weight,
                    dimensions=Dimensions(length, rng.randint(50, length), rng.randint(10, 250)),
                    options=options,
                    skus=_skus(rng, options, base, f"SKU{number:04d}"),
                ),
            )
        )
    return generated


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def _ensure_categories(catalog: Catalog) -> tuple[dict[tuple[str, str], str], int]:
    """Ids of the demo tree's child categories by (root name, name), creating the missing ones."""
    async with catalog.database.sessions() as session:
        existing = await CatalogRepository(session).list_all_categories()
    by_place = {(c.parent_id or "", c.slug): c.id for c in existing}
    created = 0

    async def ensure(parent_id: str, name: str) -> str:
        nonlocal created
        found = by_place.get((parent_id, slugify(name)))
        if found:
            return found
        category = await create_category(
            catalog=catalog, command=CreateCategory(parent_id=parent_id, name=name), principal=SEED_PRINCIPAL
        )
        by_place[(parent_id, category.slug)] = category.id
        created += 1
        return category.id

    ids: dict[tuple[str, str], str] = {}
    for demo in CATEGORIES:
        root_id = await ensure("", demo.root)
        ids[(demo.root, demo.name)] = await ensure(root_id, demo.name)
    return ids, created


async def seed(settings: ProductSettings) -> SeedReport:
    """Create whatever of the demo marketplace is missing."""
    started = time.perf_counter()
    database = await open_service_database(settings, MIGRATIONS)
    valkey = create_valkey(settings.redis_url)
    catalog = Catalog(database=database, cache=product_cache(settings, valkey))
    try:
        category_ids, categories_created = await _ensure_categories(catalog)
        async with database.sessions() as session:
            existing = await CatalogRepository(session).slugs_of_shops([shop.id for shop in SHOPS])
        missing = [
            CreateProduct(
                shop_id=demo.shop.id,
                spec=replace(demo.spec, category_id=category_ids[(demo.category.root, demo.category.name)]),
                sku_ids={sku.code: demo_sku_id(demo.shop.id, sku.code) for sku in demo.spec.skus},
            )
            for demo in demo_products(settings.demo_image_base_url.rstrip("/"))
            if (demo.shop.id, demo.spec.slug) not in existing
        ]
        for batch in _batches(missing, BATCH_SIZE):
            await create_products(catalog=catalog, commands=batch, principal=SEED_PRINCIPAL)
    finally:
        await valkey.aclose()
        await database.dispose()
    return SeedReport(
        categories_created=categories_created,
        products_created=len(missing),
        products_skipped=PRODUCT_COUNT - len(missing),
        seconds=time.perf_counter() - started,
    )


def main() -> None:
    """Seed the demo marketplace and say what was done."""
    report = uvloop.run(seed(ProductSettings()))
    print(
        f"product seed: {report.categories_created} categories and {report.products_created} products "
        f"created, {report.products_skipped} already there, {len(SHOPS)} shops, in {report.seconds:.1f}s"
    )


if __name__ == "__main__":
    main()
