"""What the inventory's repositories share: their session, and the stock line as each of them reads it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.inventory.repository.tables import stock


class SessionRepository:
    """A repository working within one session's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session


@dataclass(frozen=True)
class StockRow:
    """A stock line as stored."""

    id: str
    sku_id: str
    warehouse_id: str
    shop_id: str
    on_hand: int
    reserved: int
    available: int
    safety_stock: int
    reorder_point: int


STOCK_COLUMNS = (
    stock.c.id,
    stock.c.sku_id,
    stock.c.warehouse_id,
    stock.c.shop_id,
    stock.c.on_hand,
    stock.c.reserved,
    stock.c.available,
    stock.c.safety_stock,
    stock.c.reorder_point,
)


def stock_row(values: Any) -> StockRow:
    """A stock line from its columns by name: a SQLAlchemy row's ``_mapping`` or an asyncpg record."""
    return StockRow(
        id=str(values["id"]),
        sku_id=str(values["sku_id"]),
        warehouse_id=str(values["warehouse_id"]),
        shop_id=str(values["shop_id"]),
        on_hand=values["on_hand"],
        reserved=values["reserved"],
        available=values["available"],
        safety_stock=values["safety_stock"],
        reorder_point=values["reorder_point"],
    )
