"""Shops and their staff (``ShopRepository``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.domain import Shop, ShopStatus
from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import shop_staff, shops, users


@dataclass(frozen=True)
class StaffMember:
    """An account working for a shop."""

    user_id: str
    name: str
    created_at: datetime


def _shop(row: Row[Any]) -> Shop:
    return Shop(
        id=row.id,
        owner_id=row.owner_id,
        name=row.name,
        domain=row.domain,
        description=row.description,
        origin_city=row.origin_city,
        status=ShopStatus(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class ShopRepository(SessionRepository):
    """Shops and their staff in one session."""

    async def add_shop(self, shop: Shop) -> bool:
        """Insert a shop; False when its domain is taken (nothing written)."""
        inserted = await self._session.execute(
            insert(shops)
            .values(
                id=shop.id,
                owner_id=shop.owner_id,
                name=shop.name,
                domain=shop.domain,
                description=shop.description,
                origin_city=shop.origin_city,
                status=shop.status.value,
                created_at=shop.created_at,
                updated_at=shop.updated_at,
            )
            .on_conflict_do_nothing()
            .returning(shops.c.id)
        )
        return inserted.first() is not None

    async def get_shop(self, shop_id: str, *, for_update: bool = False) -> Shop | None:
        """A shop by id."""
        query = select(shops).where(shops.c.id == shop_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).one_or_none()
        return None if row is None else _shop(row)

    async def get_shop_by_domain(self, domain: str) -> Shop | None:
        """A shop by its storefront domain."""
        row = (await self._session.execute(select(shops).where(shops.c.domain == domain))).one_or_none()
        return None if row is None else _shop(row)

    async def list_active_shops(self, *, after: str | None, limit: int) -> list[Shop]:
        """Active shops, oldest first."""
        query = select(shops).where(shops.c.status == ShopStatus.ACTIVE.value)
        if after is not None:
            query = query.where(shops.c.id > after)
        rows = (await self._session.execute(query.order_by(shops.c.id).limit(limit))).all()
        return [_shop(row) for row in rows]

    async def save_shop(self, shop: Shop) -> None:
        """Store a shop's changeable fields."""
        await self._session.execute(
            update(shops)
            .where(shops.c.id == shop.id)
            .values(
                owner_id=shop.owner_id,
                name=shop.name,
                description=shop.description,
                origin_city=shop.origin_city,
                status=shop.status.value,
                updated_at=shop.updated_at,
            )
        )

    async def staff_of(self, shop_id: str) -> list[str]:
        """Ids of the accounts working for a shop."""
        return list(
            (await self._session.execute(select(shop_staff.c.user_id).where(shop_staff.c.shop_id == shop_id)))
            .scalars()
            .all()
        )

    async def list_staff(self, shop_id: str, *, after: str | None, limit: int) -> list[StaffMember]:
        """Staff of a shop in the order they joined."""
        query = (
            select(shop_staff.c.user_id, users.c.name, shop_staff.c.created_at)
            .join(users, users.c.id == shop_staff.c.user_id)
            .where(shop_staff.c.shop_id == shop_id)
        )
        if after is not None:
            query = query.where(shop_staff.c.user_id > after)
        rows = (await self._session.execute(query.order_by(shop_staff.c.user_id).limit(limit))).all()
        return [StaffMember(row.user_id, row.name, row.created_at) for row in rows]

    async def add_staff(self, shop_id: str, user_id: str, now: datetime) -> None:
        """Record that an account works for a shop."""
        await self._session.execute(
            insert(shop_staff).values(shop_id=shop_id, user_id=user_id, created_at=now)
        )

    async def remove_staff(self, shop_id: str, user_id: str) -> bool:
        """Forget that an account works for a shop; whether it did."""
        deleted = await self._session.execute(
            delete(shop_staff)
            .where(shop_staff.c.shop_id == shop_id, shop_staff.c.user_id == user_id)
            .returning(shop_staff.c.user_id)
        )
        return deleted.first() is not None
