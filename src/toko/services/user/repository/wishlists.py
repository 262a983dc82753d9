"""Wishlists: an account's wishlist items and its named collections (``WishlistRepository``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import (
    wishlist_collection_items,
    wishlist_collections,
    wishlist_items,
)


@dataclass(frozen=True)
class CollectionRow:
    """A wishlist collection with its item count."""

    id: str
    name: str
    item_count: int
    created_at: datetime


@dataclass(frozen=True)
class WishlistRow:
    """A wishlist item with the collections it is in."""

    product_id: str
    collection_ids: tuple[str, ...]
    created_at: datetime


class WishlistRepository(SessionRepository):
    """Wishlist items and collections in one session."""

    async def has_wishlist_item(self, user_id: str, product_id: str) -> bool:
        """Whether the product is on the wishlist."""
        return (
            await self._session.execute(
                select(wishlist_items.c.product_id).where(
                    wishlist_items.c.user_id == user_id, wishlist_items.c.product_id == product_id
                )
            )
        ).first() is not None

    async def count_wishlist_items(self, user_id: str) -> int:
        """How many products are on the wishlist."""
        return int(
            (
                await self._session.execute(
                    select(func.count())
                    .select_from(wishlist_items)
                    .where(wishlist_items.c.user_id == user_id)
                )
            ).scalar_one()
        )

    async def add_wishlist_item(self, user_id: str, product_id: str, now: datetime) -> None:
        """Put a product on the wishlist (no-op when it is there)."""
        await self._session.execute(
            insert(wishlist_items)
            .values(user_id=user_id, product_id=product_id, created_at=now)
            .on_conflict_do_nothing()
        )

    async def add_to_collection(self, user_id: str, collection_id: str, product_id: str) -> None:
        """Put a wishlist item into a collection (no-op when it is there)."""
        await self._session.execute(
            insert(wishlist_collection_items)
            .values(collection_id=collection_id, user_id=user_id, product_id=product_id)
            .on_conflict_do_nothing()
        )

    async def remove_wishlist_item(self, user_id: str, product_id: str, collection_id: str | None) -> None:
        """Take a product off the wishlist, or out of one collection; no-op when absent."""
        if collection_id is None:
            table = wishlist_items
            query = delete(table).where(table.c.user_id == user_id, table.c.product_id == product_id)
        else:
            table = wishlist_collection_items
            query = delete(table).where(
                table.c.user_id == user_id,
                table.c.collection_id == collection_id,
                table.c.product_id == product_id,
            )
        await self._session.execute(query)

    async def get_wishlist_item(self, user_id: str, product_id: str) -> WishlistRow | None:
        """A wishlist item with its collections."""
        found = await self._wishlist_rows(
            select(wishlist_items).where(
                wishlist_items.c.user_id == user_id, wishlist_items.c.product_id == product_id
            )
        )
        return found[0] if found else None

    async def list_wishlist_items(
        self, user_id: str, *, collection_id: str | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[WishlistRow]:
        """Wishlist items, newest first; ``after`` is the (created_at, product_id) of the last one seen."""
        query = select(wishlist_items).where(wishlist_items.c.user_id == user_id)
        if collection_id is not None:
            query = query.where(
                select(wishlist_collection_items.c.product_id)
                .where(
                    wishlist_collection_items.c.collection_id == collection_id,
                    wishlist_collection_items.c.product_id == wishlist_items.c.product_id,
                )
                .exists()
            )
        if after is not None:
            moment, product_id = after
            query = query.where(
                or_(
                    wishlist_items.c.created_at < moment,
                    and_(wishlist_items.c.created_at == moment, wishlist_items.c.product_id < product_id),
                )
            )
        query = query.order_by(wishlist_items.c.created_at.desc(), wishlist_items.c.product_id.desc()).limit(
            limit
        )
        return await self._wishlist_rows(query)

    async def _wishlist_rows(self, query: Any) -> list[WishlistRow]:
        rows = (await self._session.execute(query)).all()
        if not rows:
            return []
        memberships = (
            await self._session.execute(
                select(wishlist_collection_items.c.product_id, wishlist_collection_items.c.collection_id)
                .where(
                    wishlist_collection_items.c.user_id == rows[0].user_id,
                    wishlist_collection_items.c.product_id.in_([row.product_id for row in rows]),
                )
                .order_by(wishlist_collection_items.c.collection_id)
            )
        ).all()
        collections: dict[str, list[str]] = {}
        for product_id, collection_id in memberships:
            collections.setdefault(product_id, []).append(collection_id)
        return [
            WishlistRow(row.product_id, tuple(collections.get(row.product_id, ())), row.created_at)
            for row in rows
        ]

    async def count_collections(self, user_id: str) -> int:
        """How many named collections the wishlist has."""
        return int(
            (
                await self._session.execute(
                    select(func.count())
                    .select_from(wishlist_collections)
                    .where(wishlist_collections.c.user_id == user_id)
                )
            ).scalar_one()
        )

    async def add_collection(self, *, collection_id: str, user_id: str, name: str, now: datetime) -> bool:
        """Insert a collection; False when the name is taken (case-insensitively)."""
        inserted = await self._session.execute(
            insert(wishlist_collections)
            .values(id=collection_id, user_id=user_id, name=name, created_at=now)
            .on_conflict_do_nothing()
            .returning(wishlist_collections.c.id)
        )
        return inserted.first() is not None

    async def list_collections(self, user_id: str, *, after: str | None, limit: int) -> list[CollectionRow]:
        """Collections with their item counts, oldest first."""
        count = (
            select(func.count())
            .where(wishlist_collection_items.c.collection_id == wishlist_collections.c.id)
            .scalar_subquery()
        )
        query = select(wishlist_collections, count.label("item_count")).where(
            wishlist_collections.c.user_id == user_id
        )
        if after is not None:
            query = query.where(wishlist_collections.c.id > after)
        if limit:
            query = query.limit(limit)
        rows = (await self._session.execute(query.order_by(wishlist_collections.c.id))).all()
        return [CollectionRow(row.id, row.name, int(row.item_count), row.created_at) for row in rows]

    async def get_collection(self, user_id: str, collection_id: str) -> CollectionRow | None:
        """A collection of the wishlist."""
        found = [
            c for c in await self.list_collections(user_id, after=None, limit=0) if c.id == collection_id
        ]
        return found[0] if found else None

    async def delete_collection(self, user_id: str, collection_id: str) -> bool:
        """Delete a collection (its items stay on the wishlist); whether there was one."""
        deleted = await self._session.execute(
            delete(wishlist_collections)
            .where(wishlist_collections.c.id == collection_id, wishlist_collections.c.user_id == user_id)
            .returning(wishlist_collections.c.id)
        )
        return deleted.first() is not None
