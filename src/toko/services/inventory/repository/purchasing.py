"""Suppliers, their catalogues, purchase orders and goods receipts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert

from toko.services.inventory.repository.common import SessionRepository
from toko.services.inventory.repository.tables import (
    goods_receipts,
    purchase_order_lines,
    purchase_orders,
    supplier_items,
    suppliers,
)


class PurchasingRepository(SessionRepository):
    """Suppliers, their catalogues and purchase orders."""

    async def add_supplier(self, values: dict[str, Any]) -> Any:
        """Insert a supplier; returns its row."""
        return (await self._session.execute(suppliers.insert().values(**values).returning(suppliers))).one()

    async def supplier(self, supplier_id: str) -> Any | None:
        """The supplier with this id, if any."""
        return (await self._session.execute(select(suppliers).where(suppliers.c.id == supplier_id))).first()

    async def suppliers_of(self, shop_id: str, *, after: str | None, limit: int) -> list[Any]:
        """A shop's suppliers, oldest first."""
        query = select(suppliers).where(suppliers.c.shop_id == shop_id).order_by(suppliers.c.id).limit(limit)
        if after is not None:
            query = query.where(suppliers.c.id > after)
        return list(await self._session.execute(query))

    async def set_item(self, values: dict[str, Any]) -> Any:
        """Insert or replace a supplier catalogue line; returns its row."""
        statement = insert(supplier_items).values(**values)
        return (
            await self._session.execute(
                statement.on_conflict_do_update(
                    index_elements=["supplier_id", "sku_id"],
                    set_={
                        name: statement.excluded[name]
                        for name in values
                        if name not in ("supplier_id", "sku_id")
                    },
                ).returning(supplier_items)
            )
        ).one()

    async def items(self, supplier_id: str, sku_ids: Sequence[str]) -> dict[str, Any]:
        """A supplier's catalogue lines for these SKUs."""
        result = await self._session.execute(
            select(supplier_items).where(
                supplier_items.c.supplier_id == supplier_id, supplier_items.c.sku_id.in_(sku_ids)
            )
        )
        return {str(row.sku_id): row for row in result}

    async def cheapest_offers(self, shop_id: str, sku_ids: Sequence[str]) -> dict[str, Any]:
        """Per SKU, the shop's cheapest supplier line (then the shortest lead time), with that lead time."""
        if not sku_ids:
            return {}
        result = await self._session.execute(
            select(supplier_items, suppliers.c.lead_time_days)
            .join(suppliers, suppliers.c.id == supplier_items.c.supplier_id)
            .where(suppliers.c.shop_id == shop_id, supplier_items.c.sku_id.in_(sku_ids))
            .order_by(supplier_items.c.sku_id, supplier_items.c.cost_amount, suppliers.c.lead_time_days)
            .ext(distinct_on(supplier_items.c.sku_id))
        )
        return {str(row.sku_id): row for row in result}

    async def add_purchase_order(self, values: dict[str, Any], lines: Sequence[dict[str, Any]]) -> None:
        """Insert a purchase order and its lines."""
        await self._session.execute(purchase_orders.insert().values(**values))
        await self._session.execute(purchase_order_lines.insert(), list(lines))

    async def purchase_order(self, purchase_order_id: str, *, for_update: bool = False) -> Any | None:
        """The purchase order with this id, if any (locked until commit with ``for_update``)."""
        query = select(purchase_orders).where(purchase_orders.c.id == purchase_order_id)
        if for_update:
            query = query.with_for_update()
        return (await self._session.execute(query)).first()

    async def lines_of(self, purchase_order_id: str) -> list[Any]:
        """A purchase order's lines in the order they were written."""
        result = await self._session.execute(
            select(purchase_order_lines)
            .where(purchase_order_lines.c.purchase_order_id == purchase_order_id)
            .order_by(purchase_order_lines.c.position)
        )
        return list(result)

    async def update_purchase_order(self, purchase_order_id: str, values: dict[str, Any]) -> Any:
        """Change a purchase order's fields; returns its row."""
        return (
            await self._session.execute(
                update(purchase_orders)
                .where(purchase_orders.c.id == purchase_order_id)
                .values(**values)
                .returning(purchase_orders)
            )
        ).one()

    async def add_received(self, purchase_order_id: str, sku_id: str, accepted: int, rejected: int) -> None:
        """Count received units on a line; the table's CHECK refuses more than was ordered."""
        await self._session.execute(
            update(purchase_order_lines)
            .where(
                purchase_order_lines.c.purchase_order_id == purchase_order_id,
                purchase_order_lines.c.sku_id == sku_id,
            )
            .values(
                accepted=purchase_order_lines.c.accepted + accepted,
                rejected=purchase_order_lines.c.rejected + rejected,
            )
        )

    async def add_receipt(self, values: dict[str, Any]) -> None:
        """Record a goods receipt document."""
        await self._session.execute(goods_receipts.insert().values(**values))

    async def delivered_orders(self, supplier_id: str, *, start: datetime, end: datetime) -> list[Any]:
        """A supplier's purchase orders submitted in [start, end), with their ordered and received units."""
        totals = (
            select(
                purchase_order_lines.c.purchase_order_id,
                func.sum(purchase_order_lines.c.quantity).label("ordered"),
                func.sum(purchase_order_lines.c.accepted).label("accepted"),
                func.sum(purchase_order_lines.c.rejected).label("rejected"),
            )
            .group_by(purchase_order_lines.c.purchase_order_id)
            .subquery()
        )
        result = await self._session.execute(
            select(
                purchase_orders.c.submitted_at,
                purchase_orders.c.expected_at,
                purchase_orders.c.received_at,
                purchase_orders.c.status,
                totals.c.ordered,
                totals.c.accepted,
                totals.c.rejected,
            )
            .join(totals, totals.c.purchase_order_id == purchase_orders.c.id)
            .where(
                purchase_orders.c.supplier_id == supplier_id,
                purchase_orders.c.submitted_at >= start,
                purchase_orders.c.submitted_at < end,
            )
        )
        return list(result)
