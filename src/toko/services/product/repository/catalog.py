"""Persistence of categories and products (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The
repository reads and writes in the caller's session and never commits; the unit
of work does. All row locking of the catalog is here (``for_update``).

A product and its SKUs are read in one round trip: the SKUs come along as a
JSON array aggregated by a correlated subquery.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, delete, exists, func, literal_column, select, tuple_, type_coerce, update
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.errors import AlreadyExists, FieldViolation
from toko.services.product.domain.catalog import (
    Attribute,
    Category,
    Condition,
    Dimensions,
    Money,
    Product,
    ProductOption,
    ProductStatus,
    Sku,
    SkuView,
)
from toko.services.product.error_codes import ErrorCode
from toko.services.product.repository.common import violated_constraint
from toko.services.product.repository.tables import (
    CATEGORY_SLUG_CONSTRAINT,
    PRODUCT_SLUG_CONSTRAINT,
    categories,
    product_current_prices,
    products,
    sku_pricing,
    skus,
)

# Every SKU of the product in the outer query, in the seller's order, as one JSON array.
_SKUS_OF_PRODUCT = (
    select(
        func.coalesce(
            func.jsonb_agg(
                aggregate_order_by(
                    func.jsonb_build_object(
                        "id",
                        skus.c.id,
                        "code",
                        skus.c.code,
                        "option_values",
                        skus.c.option_values,
                        "price",
                        skus.c.price,
                        "currency",
                        skus.c.currency,
                    ),
                    skus.c.position,
                )
            ),
            literal_column("'[]'::jsonb"),
        )
    )
    .where(skus.c.product_id == products.c.id)
    .scalar_subquery()
)
_PRODUCT_WITH_SKUS = select(products, type_coerce(_SKUS_OF_PRODUCT, JSONB).label("skus"))


@dataclass(frozen=True)
class ProductFilter:
    """The filters of a product listing; ``None`` or 0 means no filter (prices are current prices)."""

    status: ProductStatus
    category_id: str | None = None
    shop_id: str | None = None
    min_price: int = 0
    max_price: int = 0
    condition: Condition | None = None


class ProductOrder(StrEnum):
    """Orders of a product listing, each ending in the id so that every position is unique."""

    NEWEST = "create_time desc"
    CHEAPEST = "price asc"
    DEAREST = "price desc"


@dataclass(frozen=True)
class ProductPosition:
    """A product's place in a listing: its id, and in an order by price its cheapest current SKU price."""

    id: str
    min_price: int = 0


class CatalogRepository:
    """Categories, products and SKUs in the service's database, within one session's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- categories -----------------------------------------------------------------------------------------

    async def add_category(self, category: Category) -> None:
        """Insert a category; raise ``AlreadyExists`` when a sibling has its slug."""
        try:
            await self._session.execute(
                categories.insert().values(
                    id=category.id,
                    parent_id=category.parent_id,
                    name=category.name,
                    slug=category.slug,
                    path=list(category.path),
                )
            )
        except IntegrityError as exc:
            if violated_constraint(exc) == CATEGORY_SLUG_CONSTRAINT:
                raise AlreadyExists(
                    ErrorCode.CATEGORY_SLUG_TAKEN,
                    f"a sibling category already has the slug {category.slug!r}",
                    [FieldViolation("slug", "is taken by a sibling", ErrorCode.CATEGORY_SLUG_TAKEN)],
                ) from exc
            raise

    async def get_category(self, category_id: str) -> Category | None:
        """The category with this id, if any."""
        row = (await self._session.execute(select(categories).where(categories.c.id == category_id))).first()
        return _category(row) if row else None

    async def list_categories(
        self, *, parent_id: str | None, after: str | None, limit: int
    ) -> list[Category]:
        """Categories in creation order, optionally only the children of ``parent_id``."""
        query = select(categories).order_by(categories.c.id).limit(limit)
        if parent_id is not None:
            query = query.where(categories.c.parent_id == parent_id)
        if after is not None:
            query = query.where(categories.c.id > after)
        return [_category(row) for row in await self._session.execute(query)]

    async def list_all_categories(self) -> list[Category]:
        """Every category (the tree is small: hundreds of nodes)."""
        return [_category(row) for row in await self._session.execute(select(categories))]

    # --- products -------------------------------------------------------------------------------------------

    async def add_products(self, *added: Product) -> None:
        """Insert products and their SKUs; raise ``AlreadyExists`` when a shop has one's slug already.

        Within a savepoint: after a taken slug the transaction goes on, so the caller may retry with another.
        """
        try:
            async with self._session.begin_nested():
                await self._session.execute(products.insert(), [_product_row(product) for product in added])
                await self._session.execute(
                    skus.insert(), [row for product in added for row in _sku_rows(product)]
                )
        except IntegrityError as exc:
            raise _translated(exc, added) from exc

    async def taken_slugs(self, shop_id: str, slugs: Sequence[str], *, besides: Sequence[str]) -> set[str]:
        """Which of ``slugs`` products of the shop other than ``besides`` (product ids) have."""
        query = select(products.c.slug).where(
            products.c.shop_id == shop_id,
            products.c.slug.in_(list(slugs)),
            products.c.id.not_in(list(besides)),
        )
        return set((await self._session.execute(query)).scalars())

    async def save_product(self, product: Product, *, skus_changed: bool) -> None:
        """Write a changed product back, and its SKUs when they changed (kept SKUs keep their ids)."""
        try:
            await self._session.execute(
                update(products).where(products.c.id == product.id).values(_product_row(product))
            )
            if skus_changed:
                kept = [sku.id for sku in product.skus]
                await self._session.execute(
                    delete(skus).where(skus.c.product_id == product.id, skus.c.id.not_in(kept))
                )
                upsert = insert(skus).values(_sku_rows(product))
                await self._session.execute(
                    upsert.on_conflict_do_update(
                        index_elements=[skus.c.id],
                        set_={
                            name: upsert.excluded[name]
                            for name in ("code", "option_values", "price", "currency", "position")
                        },
                    )
                )
        except IntegrityError as exc:
            raise _translated(exc, [product], prefix="product.") from exc

    async def get_product(self, product_id: str, *, for_update: bool = False) -> Product | None:
        """The product with its SKUs; ``for_update`` locks its row until the transaction ends."""
        query = _PRODUCT_WITH_SKUS.where(products.c.id == product_id)
        if for_update:
            query = query.with_for_update(of=products)
        row = (await self._session.execute(query)).first()
        return _product(row) if row else None

    async def get_product_by_slug(self, shop_id: str, slug: str) -> Product | None:
        """The product of ``shop_id`` with this slug, with its SKUs."""
        query = _PRODUCT_WITH_SKUS.where(products.c.shop_id == shop_id, products.c.slug == slug)
        row = (await self._session.execute(query)).first()
        return _product(row) if row else None

    async def list_products(
        self,
        where: ProductFilter,
        *,
        order: ProductOrder = ProductOrder.NEWEST,
        after: ProductPosition | None,
        limit: int,
    ) -> list[tuple[Product, ProductPosition]]:
        """Products matching ``where`` in ``order``, after ``after``, each with its position in the order.

        Newest first is by id (ids are time-ordered); by price is by the cheapest SKU's current
        price, the price of one unit a buyer pays now, then id.
        """
        prices = product_current_prices
        query = _PRODUCT_WITH_SKUS.where(products.c.status == where.status.value).limit(limit)
        if order is ProductOrder.NEWEST:
            query = query.order_by(products.c.id.desc())
            if after is not None:
                query = query.where(products.c.id < after.id)
        else:
            query = query.add_columns(prices.c.min_price.label("current_min_price")).join(
                prices, prices.c.product_id == products.c.id
            )
            key = tuple_(prices.c.min_price, prices.c.product_id)
            position = (
                None
                if after is None
                else tuple_(
                    after.min_price, after.id, types=[prices.c.min_price.type, prices.c.product_id.type]
                )
            )
            if order is ProductOrder.CHEAPEST:
                query = query.order_by(prices.c.min_price, prices.c.product_id)
                if position is not None:
                    query = query.where(key > position)
            else:
                query = query.order_by(prices.c.min_price.desc(), prices.c.product_id.desc())
                if position is not None:
                    query = query.where(key < position)
        if where.shop_id is not None:
            query = query.where(products.c.shop_id == where.shop_id)
        if where.condition is not None:
            query = query.where(products.c.condition == where.condition.value)
        if where.category_id is not None:
            subtree = select(categories.c.id).where(categories.c.path.contains([where.category_id]))
            query = query.where(products.c.category_id.in_(subtree))
        if where.min_price or where.max_price:
            current = func.coalesce(sku_pricing.c.current_price, skus.c.price)
            priced = skus.c.product_id == products.c.id
            if where.min_price:
                priced &= current >= where.min_price
            if where.max_price:
                priced &= current <= where.max_price
            query = query.where(
                exists()
                .select_from(skus.outerjoin(sku_pricing, sku_pricing.c.sku_id == skus.c.id))
                .where(priced)
            )
        found = []
        for row in await self._session.execute(query):
            current_min = 0 if order is ProductOrder.NEWEST else int(row.current_min_price)
            found.append((_product(row), ProductPosition(row.id, current_min)))
        return found

    async def get_skus(self, sku_ids: Iterable[str]) -> dict[str, SkuView]:
        """The SKUs with these ids and their product facts, keyed by SKU id; unknown ids are absent."""
        wanted = list(dict.fromkeys(sku_ids))
        query = (
            select(
                skus,
                products.c.title,
                products.c.shop_id,
                products.c.status,
                products.c.weight_grams,
                products.c.length_mm,
                products.c.width_mm,
                products.c.height_mm,
                products.c.image_urls[0].astext.label("cover"),
            )
            .join(products, products.c.id == skus.c.product_id)
            .where(skus.c.id.in_(wanted))
        )
        return {
            row.id: SkuView(
                sku=_sku(row),
                product_id=row.product_id,
                product_title=row.title,
                shop_id=row.shop_id,
                product_status=ProductStatus(row.status),
                weight_grams=row.weight_grams,
                image_url=row.cover or "",
                dimensions=Dimensions(row.length_mm, row.width_mm, row.height_mm),
            )
            for row in await self._session.execute(query)
        }

    async def count_products(self) -> int:
        """How many products there are."""
        return int((await self._session.execute(select(func.count()).select_from(products))).scalar_one())

    async def slugs_of_shops(self, shop_ids: Sequence[str]) -> set[tuple[str, str]]:
        """The (shop id, slug) pairs of every product of these shops."""
        query = select(products.c.shop_id, products.c.slug).where(products.c.shop_id.in_(list(shop_ids)))
        return {(row.shop_id, row.slug) for row in await self._session.execute(query)}


def _translated(error: IntegrityError, written: Sequence[Product], prefix: str = "") -> Exception:
    if violated_constraint(error) == PRODUCT_SLUG_CONSTRAINT:
        slugs = ", ".join(repr(product.slug) for product in written)
        return AlreadyExists(
            ErrorCode.SLUG_TAKEN,
            f"the shop already has a product with the slug {slugs}",
            [
                FieldViolation(
                    f"{prefix}slug", "is taken by another product of the shop", ErrorCode.SLUG_TAKEN
                )
            ],
        )
    return error


def _product_row(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "shop_id": product.shop_id,
        "category_id": product.category_id,
        "title": product.title,
        "slug": product.slug,
        "description": product.description,
        "condition": product.condition.value,
        "status": product.status.value,
        "attributes": [{"name": a.name, "value": a.value} for a in product.attributes],
        "image_urls": list(product.image_urls),
        "weight_grams": product.weight_grams,
        "length_mm": product.dimensions.length_mm,
        "width_mm": product.dimensions.width_mm,
        "height_mm": product.dimensions.height_mm,
        "options": [{"name": o.name, "values": list(o.values)} for o in product.options],
        "min_price": product.min_price.amount,
        "max_price": product.max_price.amount,
        "currency": product.currency,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
        "version": product.version,
    }


def _sku_rows(product: Product) -> list[dict[str, Any]]:
    return [
        {
            "id": sku.id,
            "product_id": product.id,
            "code": sku.code,
            "option_values": dict(sku.option_values),
            "price": sku.price.amount,
            "currency": sku.price.currency,
            "position": position,
        }
        for position, sku in enumerate(product.skus)
    ]


def _category(row: Row[Any]) -> Category:
    return Category(
        id=row.id,
        parent_id=row.parent_id,
        name=row.name,
        slug=row.slug,
        path=tuple(str(part) for part in row.path),
    )


def _sku(raw: Mapping[str, Any] | Row[Any]) -> Sku:
    values = raw if isinstance(raw, Mapping) else raw._mapping
    return Sku(
        id=str(values["id"]),
        code=values["code"],
        option_values=dict(values["option_values"]),
        price=Money(int(values["price"]), values["currency"]),
    )


def _product(row: Row[Any]) -> Product:
    return Product(
        id=row.id,
        shop_id=row.shop_id,
        category_id=row.category_id,
        title=row.title,
        slug=row.slug,
        description=row.description,
        condition=Condition(row.condition),
        status=ProductStatus(row.status),
        attributes=tuple(Attribute(a["name"], a["value"]) for a in row.attributes),
        image_urls=tuple(row.image_urls),
        weight_grams=row.weight_grams,
        dimensions=Dimensions(row.length_mm, row.width_mm, row.height_mm),
        options=tuple(ProductOption(o["name"], tuple(o["values"])) for o in row.options),
        skus=tuple(_sku(raw) for raw in row.skus),
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        currency=row.currency,
    )
