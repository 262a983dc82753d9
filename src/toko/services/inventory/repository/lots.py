"""The lots of perishable SKUs' stock lines, read under their lines' locks (lots have none of their own)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Date, Text, literal, select, tuple_

from toko.services.inventory.domain import Lot
from toko.services.inventory.repository.common import STOCK_COLUMNS, SessionRepository, StockRow, stock_row
from toko.services.inventory.repository.tables import stock, stock_lots


class LotRepository(SessionRepository):
    """The stock_lots table, beyond what a movement changes."""

    async def claim_lines_with_expired_lots(self, *, today: date, limit: int) -> list[StockRow]:
        """Stock lines with unheld units in lots past their date, locked in id order (at most ``limit``).

        ``SKIP LOCKED``: lines another replica's pass, or any other use case, holds are left for a later pass.
        """
        expired = select(stock_lots.c.stock_id).where(
            stock_lots.c.expires_on < today, stock_lots.c.on_hand > stock_lots.c.reserved
        )
        result = await self._session.execute(
            select(*STOCK_COLUMNS)
            .where(stock.c.id.in_(expired))
            .order_by(stock.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [stock_row(row._mapping) for row in result]

    async def lots_of_lines(self, stock_ids: Sequence[str]) -> dict[str, list[Lot]]:
        """The lots of these stock lines, first expired first out (their row locks guard them)."""
        if not stock_ids:
            return {}
        result = await self._session.execute(
            select(
                stock_lots.c.stock_id,
                stock_lots.c.lot_code,
                stock_lots.c.expires_on,
                stock_lots.c.on_hand,
                stock_lots.c.reserved,
            )
            .where(stock_lots.c.stock_id.in_(stock_ids))
            .order_by(stock_lots.c.stock_id, stock_lots.c.expires_on, stock_lots.c.lot_code)
        )
        found: dict[str, list[Lot]] = {stock_id: [] for stock_id in stock_ids}
        for r in result:
            found[str(r.stock_id)].append(Lot(r.lot_code, r.expires_on, r.on_hand, r.reserved))
        return found

    async def lots_holding_units(
        self, stock_id: str, *, after: tuple[date, str] | None, limit: int
    ) -> list[Lot]:
        """The lots of a stock line with units on hand, first expired first out, after ``after``."""
        query = (
            select(
                stock_lots.c.lot_code, stock_lots.c.expires_on, stock_lots.c.on_hand, stock_lots.c.reserved
            )
            .where(stock_lots.c.stock_id == stock_id, stock_lots.c.on_hand > 0)
            .order_by(stock_lots.c.expires_on, stock_lots.c.lot_code)
            .limit(limit)
        )
        if after is not None:
            query = query.where(
                tuple_(stock_lots.c.expires_on, stock_lots.c.lot_code)
                > tuple_(literal(after[0], Date), literal(after[1], Text))
            )
        result = await self._session.execute(query)
        return [Lot(r.lot_code, r.expires_on, r.on_hand, r.reserved) for r in result]
