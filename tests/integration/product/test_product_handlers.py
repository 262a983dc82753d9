"""The use cases and the repository on the real database, called directly (no gRPC in between)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from product_testkit import new_shop, product_settings
from sqlalchemy import select

from toko.infra.servers import InfraEndpoints
from toko.platform.auth import Principal
from toko.platform.cache import create_valkey
from toko.platform.db import open_service_database
from toko.platform.errors import InvalidArgument, NotFound, PermissionDenied
from toko.platform.schema import outbox
from toko.product.v1 import product_pb2 as pb
from toko.services.product.bootstrap import MIGRATIONS, product_cache
from toko.services.product.domain.catalog import (
    Condition,
    Dimensions,
    Money,
    ProductOption,
    ProductSpec,
    ProductStatus,
    SkuSpec,
)
from toko.services.product.handlers import Catalog
from toko.services.product.handlers import catalog as handlers
from toko.services.product.handlers.catalog import CreateCategory, CreateProduct, UpdateProduct
from toko.services.product.repository.catalog import CatalogRepository, ProductFilter

ADMIN = Principal(subject="admin", roles=frozenset({"admin"}))
ANONYMOUS = Principal(subject="")


def seller(shop_id: str) -> Principal:
    return Principal(subject=f"seller-{shop_id}", roles=frozenset({"seller"}), shop_id=shop_id)


def spec(category_id: str, **changes: object) -> ProductSpec:
    base = ProductSpec(
        category_id=category_id,
        title="Sambal Bawang Bu Rudy 150g",
        slug="",
        description="Sambal bawang khas Surabaya.",
        condition=Condition.NEW,
        status=ProductStatus.ACTIVE,
        attributes=(),
        image_urls=(),
        weight_grams=250,
        dimensions=Dimensions(80, 80, 100),
        options=(ProductOption("Varian", ("Original", "Pedas")),),
        skus=(
            SkuSpec("SB-ORI", {"Varian": "Original"}, Money(35_000)),
            SkuSpec("SB-PDS", {"Varian": "Pedas"}, Money(37_500)),
        ),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def catalog(infrastructure: InfraEndpoints) -> AsyncIterator[Catalog]:
    settings = product_settings(infrastructure, f"handlers_{uuid.uuid4().hex[:8]}")
    database = await open_service_database(settings, MIGRATIONS)
    valkey = create_valkey(settings.redis_url)
    yield Catalog(database=database, cache=product_cache(settings, valkey))
    await valkey.aclose()
    await database.dispose()


@pytest.fixture(scope="module")
async def category_id(catalog: Catalog) -> str:
    category = await handlers.create_category(
        catalog=catalog, command=CreateCategory(parent_id="", name="Sambal & Bumbu"), principal=ADMIN
    )
    return category.id


async def test_a_seller_manages_only_the_products_of_their_own_shop(
    catalog: Catalog, category_id: str
) -> None:
    mine, theirs = new_shop(), new_shop()

    created = await handlers.create_product(
        catalog=catalog, command=CreateProduct(mine, spec(category_id)), principal=seller(mine)
    )
    with pytest.raises(PermissionDenied) as not_theirs:
        await handlers.create_product(
            catalog=catalog, command=CreateProduct(mine, spec(category_id)), principal=seller(theirs)
        )
    with pytest.raises(PermissionDenied) as no_archiving:
        await handlers.archive_product(catalog=catalog, product_id=created.id, principal=seller(theirs))

    assert created.shop_id == mine
    assert not_theirs.value.reason == no_archiving.value.reason == "NOT_SHOP_OWNER"


async def test_drafts_are_seen_by_their_shop_only(catalog: Catalog, category_id: str) -> None:
    shop_id = new_shop()
    draft = await handlers.create_product(
        catalog=catalog,
        command=CreateProduct(shop_id, spec(category_id, status=ProductStatus.DRAFT)),
        principal=seller(shop_id),
    )
    sku_ids = [sku.id for sku in draft.skus]

    owner_view = await handlers.get_product(catalog=catalog, product_id=draft.id, principal=seller(shop_id))
    with pytest.raises(NotFound):
        await handlers.get_product(catalog=catalog, product_id=draft.id, principal=seller(new_shop()))
    with pytest.raises(NotFound):
        await handlers.get_product_by_slug(
            catalog=catalog, shop_id=shop_id, slug=draft.slug, principal=ANONYMOUS
        )
    public_skus = await handlers.batch_get_skus(catalog=catalog, sku_ids=sku_ids, principal=ANONYMOUS)
    owner_skus = await handlers.batch_get_skus(catalog=catalog, sku_ids=sku_ids, principal=seller(shop_id))
    listed = await handlers.list_products(
        catalog=catalog,
        query=handlers.ListProducts(shop_id=shop_id, status=ProductStatus.DRAFT),
        principal=seller(shop_id),
    )

    assert owner_view.id == draft.id
    assert public_skus == []
    assert [view.sku.id for view in owner_skus] == sku_ids
    assert [p.id for p in listed.items] == [draft.id]


async def test_an_update_that_changes_nothing_keeps_the_version_and_raises_no_event(
    catalog: Catalog, category_id: str
) -> None:
    shop_id = new_shop()
    created = await handlers.create_product(
        catalog=catalog, command=CreateProduct(shop_id, spec(category_id)), principal=ADMIN
    )

    same = await handlers.update_product(
        catalog=catalog,
        command=UpdateProduct(created.id, spec(category_id), ("title", "skus", "weight_grams")),
        principal=ADMIN,
    )

    assert same == created
    assert await _events_about(catalog, created.id) == ["toko.product.v1.ProductCreated"]


async def test_archiving_by_update_raises_updated_and_archived(catalog: Catalog, category_id: str) -> None:
    created = await handlers.create_product(
        catalog=catalog, command=CreateProduct(new_shop(), spec(category_id)), principal=ADMIN
    )

    archived = await handlers.update_product(
        catalog=catalog,
        command=UpdateProduct(created.id, spec(category_id, status=ProductStatus.ARCHIVED), ("status",)),
        principal=ADMIN,
    )

    assert archived.status == pb.PRODUCT_STATUS_ARCHIVED
    assert await _events_about(catalog, created.id) == [
        "toko.product.v1.ProductCreated",
        "toko.product.v1.ProductUpdated",
        "toko.product.v1.ProductArchived",
    ]


async def test_moving_to_an_unknown_category_is_reported_with_the_other_violations(
    catalog: Catalog, category_id: str
) -> None:
    created = await handlers.create_product(
        catalog=catalog, command=CreateProduct(new_shop(), spec(category_id)), principal=ADMIN
    )

    with pytest.raises(InvalidArgument) as caught:
        await handlers.update_product(
            catalog=catalog,
            command=UpdateProduct(created.id, spec(str(uuid.uuid4()), title="x"), ("category_id", "title")),
            principal=ADMIN,
        )

    assert caught.value.reason == "VALIDATION_FAILED"
    assert [v.field for v in caught.value.violations] == ["product.category_id", "product.title"]


async def test_the_repository_round_trips_a_product_and_its_skus(catalog: Catalog, category_id: str) -> None:
    shop_id = new_shop()
    created = await handlers.create_product(
        catalog=catalog, command=CreateProduct(shop_id, spec(category_id)), principal=ADMIN
    )

    async with catalog.database.sessions() as session:
        repository = CatalogRepository(session)
        by_id = await repository.get_product(created.id)
        by_slug = await repository.get_product_by_slug(shop_id, created.slug)
        listed = await repository.list_products(
            ProductFilter(status=ProductStatus.ACTIVE, shop_id=shop_id, category_id=category_id),
            after=None,
            limit=10,
        )
        views = await repository.get_skus([created.skus[1].id])

    assert by_id is not None
    assert by_id == by_slug == listed[0][0]
    assert by_id.options == (ProductOption("Varian", ("Original", "Pedas")),)
    assert [(s.code, dict(s.option_values), s.price) for s in by_id.skus] == [
        ("SB-ORI", {"Varian": "Original"}, Money(35_000)),
        ("SB-PDS", {"Varian": "Pedas"}, Money(37_500)),
    ]
    assert views[created.skus[1].id].product_title == "Sambal Bawang Bu Rudy 150g"
    assert views[created.skus[1].id].image_url == ""


async def test_several_products_are_created_in_one_transaction_or_none(
    catalog: Catalog, category_id: str
) -> None:
    shop_id = new_shop()
    good = CreateProduct(shop_id, spec(category_id, slug="sambal-satu"))
    bad = CreateProduct(shop_id, spec(category_id, slug="sambal-dua", weight_grams=0))

    with pytest.raises(InvalidArgument):
        await handlers.create_products(catalog=catalog, commands=[good, bad], principal=ADMIN)
    created = await handlers.create_products(
        catalog=catalog,
        commands=[good, replace(bad, spec=spec(category_id, slug="sambal-dua"))],
        principal=ADMIN,
    )
    listed = await handlers.list_products(
        catalog=catalog, query=handlers.ListProducts(shop_id=shop_id), principal=ANONYMOUS
    )

    assert [p.slug for p in created] == ["sambal-satu", "sambal-dua"]
    assert [p.slug for p in listed.items] == ["sambal-dua", "sambal-satu"]


async def _events_about(catalog: Catalog, product_id: str) -> list[str]:
    async with catalog.database.sessions() as session:
        rows = await session.execute(
            select(outbox.c.type).where(outbox.c.aggregate == product_id).order_by(outbox.c.id)
        )
        return [row.type for row in rows]


async def test_products_of_one_title_created_together_get_numbered_slugs(
    catalog: Catalog, category_id: str
) -> None:
    shop_id = new_shop()
    derived = CreateProduct(shop_id, spec(category_id))

    created = await handlers.create_products(
        catalog=catalog,
        commands=[
            derived,
            CreateProduct(shop_id, spec(category_id, slug="sambal-bawang-bu-rudy-150g-2")),
            derived,
        ],
        principal=ADMIN,
    )

    assert [p.slug for p in created] == [
        "sambal-bawang-bu-rudy-150g",
        "sambal-bawang-bu-rudy-150g-2",
        "sambal-bawang-bu-rudy-150g-3",
    ]
