"""Warehouses: a shop's own, or the platform's fulfilment centres."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from toko.services.inventory.domain import WarehouseKind
from toko.services.inventory.repository.common import SessionRepository
from toko.services.inventory.repository.tables import warehouses


class WarehouseRepository(SessionRepository):
    """The warehouses table."""

    async def add_warehouse(
        self,
        *,
        warehouse_id: str,
        shop_id: str | None,
        name: str,
        address: str,
        city: str,
        kind: WarehouseKind,
    ) -> Any:
        """Insert a warehouse; returns its row."""
        return (
            await self._session.execute(
                warehouses.insert()
                .values(
                    id=warehouse_id, shop_id=shop_id, name=name, address=address, city=city, kind=kind.value
                )
                .returning(warehouses)
            )
        ).one()

    async def warehouse(self, warehouse_id: str) -> Any | None:
        """The warehouse row with this id, if any."""
        return (
            await self._session.execute(select(warehouses).where(warehouses.c.id == warehouse_id))
        ).first()

    async def warehouses_of(self, shop_id: str | None, *, after: str | None, limit: int) -> list[Any]:
        """A shop's warehouses (or the fulfilment centres for None), oldest first."""
        condition = warehouses.c.shop_id == shop_id if shop_id else warehouses.c.shop_id.is_(None)
        query = select(warehouses).where(condition).order_by(warehouses.c.id).limit(limit)
        if after is not None:
            query = query.where(warehouses.c.id > after)
        return list(await self._session.execute(query))

    async def update_warehouse(self, warehouse_id: str, values: dict[str, str]) -> Any:
        """Change a warehouse's fields; returns its row."""
        return (
            await self._session.execute(
                update(warehouses)
                .where(warehouses.c.id == warehouse_id)
                .values(**values)
                .returning(warehouses)
            )
        ).one()
