"""Product summaries, the wishlist's read model of the catalog and stock (``ProductSummaryRepository``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row, case, or_, select, tuple_
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import product_summaries, product_summary_skus


class ListingStatus(StrEnum):
    """Whether a product is on sale, as the catalog last said."""

    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


@dataclass(frozen=True)
class Price:
    """A price of one unit: minor units of its currency (empty means IDR, as on the wire)."""

    amount: int
    currency: str


@dataclass(frozen=True)
class ProductFacts:
    """What a product event says of a product: its summary as of ``version`` and its SKUs' base prices."""

    product_id: str
    shop_id: str
    title: str
    image_url: str
    status: ListingStatus
    # SKU id to base price, in the product's order.
    base_prices: dict[str, Price]
    version: int


@dataclass(frozen=True)
class ProductSummary:
    """What a wishlist shows of a product: its title, cover image, status, lowest price and any stock."""

    product_id: str
    title: str
    image_url: str
    status: ListingStatus
    price: Price | None
    in_stock: bool


class ProductSummaryRepository(SessionRepository):
    """The product summaries: written by the event consumers, read by the wishlist.

    Every write keeps the newest fact: a product's version, a price change's time (then id), an
    availability version. An event that arrives late or twice is ignored, whatever the order.
    """

    async def record_product(self, facts: ProductFacts, now: datetime) -> bool:
        """Store a product unless a newer version is stored; whether it was. Archiving is for good."""
        values = insert(product_summaries).values(
            product_id=facts.product_id,
            shop_id=facts.shop_id,
            title=facts.title,
            image_url=facts.image_url,
            status=facts.status.value,
            sku_ids=list(facts.base_prices),
            version=facts.version,
            updated_at=now,
        )
        stored = product_summaries.c
        upsert = values.on_conflict_do_update(
            index_elements=[stored.product_id],
            set_={
                "shop_id": values.excluded.shop_id,
                "title": values.excluded.title,
                "image_url": values.excluded.image_url,
                "status": case(
                    (stored.status == ListingStatus.ARCHIVED.value, stored.status),
                    else_=values.excluded.status,
                ),
                "sku_ids": values.excluded.sku_ids,
                "version": values.excluded.version,
                "updated_at": values.excluded.updated_at,
            },
            where=stored.version < values.excluded.version,
        ).returning(stored.product_id)
        if (await self._session.execute(upsert)).first() is None:
            return False
        if facts.base_prices:
            prices = insert(product_summary_skus).values(
                [
                    {"sku_id": sku_id, "price_amount": price.amount, "currency": price.currency}
                    for sku_id, price in facts.base_prices.items()
                ]
            )
            # The base price stands in until the SKU's first price change, which may be lower (a campaign).
            await self._session.execute(
                prices.on_conflict_do_update(
                    index_elements=[product_summary_skus.c.sku_id],
                    set_={"price_amount": prices.excluded.price_amount, "currency": prices.excluded.currency},
                    where=product_summary_skus.c.price_changed_at.is_(None),
                )
            )
        return True

    async def archive_product(self, product_id: str, shop_id: str, now: datetime) -> None:
        """Mark a product archived, known or not (its other facts may come later)."""
        values = insert(product_summaries).values(
            product_id=product_id,
            shop_id=shop_id,
            title="",
            image_url="",
            status=ListingStatus.ARCHIVED.value,
            sku_ids=[],
            version=0,
            updated_at=now,
        )
        await self._session.execute(
            values.on_conflict_do_update(
                index_elements=[product_summaries.c.product_id],
                set_={"status": ListingStatus.ARCHIVED.value, "updated_at": now},
            )
        )

    async def record_price(self, sku_id: str, price: Price, *, changed_at: datetime, change_id: str) -> None:
        """Store a SKU's price of one unit unless a later change is stored."""
        values = insert(product_summary_skus).values(
            sku_id=sku_id,
            price_amount=price.amount,
            currency=price.currency,
            price_changed_at=changed_at,
            price_change_id=change_id,
        )
        stored = product_summary_skus.c
        await self._session.execute(
            values.on_conflict_do_update(
                index_elements=[stored.sku_id],
                set_={
                    "price_amount": values.excluded.price_amount,
                    "currency": values.excluded.currency,
                    "price_changed_at": values.excluded.price_changed_at,
                    "price_change_id": values.excluded.price_change_id,
                },
                where=or_(
                    stored.price_changed_at.is_(None),
                    tuple_(stored.price_changed_at, stored.price_change_id)
                    < tuple_(values.excluded.price_changed_at, values.excluded.price_change_id),
                ),
            )
        )

    async def record_availability(self, sku_id: str, *, in_stock: bool, version: int) -> None:
        """Store whether a SKU has stock unless a later version is stored."""
        values = insert(product_summary_skus).values(
            sku_id=sku_id, in_stock=in_stock, availability_version=version
        )
        stored = product_summary_skus.c
        await self._session.execute(
            values.on_conflict_do_update(
                index_elements=[stored.sku_id],
                set_={
                    "in_stock": values.excluded.in_stock,
                    "availability_version": values.excluded.availability_version,
                },
                where=stored.availability_version < values.excluded.availability_version,
            )
        )

    async def summaries(self, product_ids: Iterable[str]) -> dict[str, ProductSummary]:
        """The summaries of the products known, by product id."""
        wanted = list(product_ids)
        if not wanted:
            return {}
        products = (
            await self._session.execute(
                select(product_summaries).where(product_summaries.c.product_id.in_(wanted))
            )
        ).all()
        sku_ids = {sku_id for row in products for sku_id in row.sku_ids}
        skus = {
            row.sku_id: row
            for row in (
                await self._session.execute(
                    select(product_summary_skus).where(product_summary_skus.c.sku_id.in_(sku_ids))
                )
            ).all()
        }
        return {
            row.product_id: _summary(row, [skus[s] for s in row.sku_ids if s in skus]) for row in products
        }


def _summary(product: Row[Any], skus: Sequence[Row[Any]]) -> ProductSummary:
    # A SKU the inventory never announced has never had stock: it starts at none, unannounced.
    prices = [Price(sku.price_amount, sku.currency) for sku in skus if sku.price_amount is not None]
    return ProductSummary(
        product_id=product.product_id,
        title=product.title,
        image_url=product.image_url,
        status=ListingStatus(product.status),
        price=min(prices, key=lambda price: price.amount, default=None),
        in_stock=any(sku.in_stock for sku in skus),
    )
