"""Stock lines and their ledger: the one place stock levels move (``StockRepository.move``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert

from toko.platform.clock import utcnow
from toko.platform.db import driver_connection
from toko.platform.ids import new_id
from toko.services.inventory.domain import (
    Lot,
    LotDelta,
    LotsShort,
    MovementKind,
    plan_lot_deltas,
    quantity_bucket,
)
from toko.services.inventory.repository.common import STOCK_COLUMNS, SessionRepository, StockRow, stock_row
from toko.services.inventory.repository.tables import skus, stock, stock_ledger, stock_lots


@dataclass(frozen=True)
class Movement:
    """One change of one stock line, and why."""

    stock_id: str
    kind: MovementKind
    on_hand_delta: int
    reserved_delta: int
    reference: str = ""
    reason: str = ""
    # The lots it moves, for a perishable SKU's line: required when units arrive (receipt, return,
    # transfer in); otherwise planned first-expired-first-out from the line's lots when left empty.
    lots: tuple[LotDelta, ...] = ()

    @property
    def available_delta(self) -> int:
        """How the line's available quantity changes."""
        return self.on_hand_delta - self.reserved_delta


@dataclass(frozen=True)
class LineMoved:
    """A stock line after a movement, with its available quantity before."""

    row: StockRow
    available_before: int


@dataclass(frozen=True)
class SkuMoved:
    """A SKU's total availability before and after the movements of one transaction."""

    sku_id: str
    shop_id: str
    available_before: int
    available_after: int
    version: int

    @property
    def bucket_changed(self) -> bool:
        """Whether buyers would see a different availability."""
        return quantity_bucket(self.available_before) != quantity_bucket(self.available_after)


class NotEnoughAvailable(Exception):
    """A conditional stock update found fewer units available than the movement takes."""

    def __init__(self, movement: Movement) -> None:
        super().__init__(f"stock line {movement.stock_id} lacks units for {movement.kind.value}")
        self.movement = movement


class LotRequired(Exception):
    """Units of a perishable SKU arrived without naming their lot."""

    def __init__(self, movement: Movement) -> None:
        super().__init__(f"stock line {movement.stock_id} is perishable: {movement.kind.value} needs a lot")
        self.movement = movement


# Every movement of one call in one round trip, run on the asyncpg connection itself: the conditional
# update of each line (a line lacking the units it gives is left out of ``moved``), its ledger row, and
# the SKUs' totals. Rows are locked in the documented order: the stock lines in id order (``lines``
# yields a row only once it holds its lock, and ``moved`` only updates rows ``lines`` yielded), then the
# ``skus`` rows the same way, in id order, after every line (``locked`` reads all of ``moved``); their
# ``perishable`` flag is read under that lock, so a concurrent SetSkuPerishable is either seen here or
# sees these units.
_MOVE_LINES = """
WITH wanted AS (
  SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::uuid[], $5::text[], $6::text[], $7::text[])
    AS w(stock_id, on_hand_delta, reserved_delta, ledger_id, kind, reference, reason)
), lines AS (
  SELECT s.id FROM stock s WHERE s.id IN (SELECT stock_id FROM wanted) ORDER BY s.id FOR UPDATE
), moved AS (
  UPDATE stock s
     SET on_hand = s.on_hand + w.on_hand_delta, reserved = s.reserved + w.reserved_delta, updated_at = now()
    FROM wanted w JOIN lines l ON l.id = w.stock_id
   WHERE s.id = w.stock_id AND s.on_hand - s.reserved >= greatest(0, w.reserved_delta - w.on_hand_delta)
  RETURNING s.id, s.sku_id, s.warehouse_id, s.shop_id, s.on_hand, s.reserved, s.available, s.safety_stock,
            s.reorder_point, w.on_hand_delta, w.reserved_delta, w.ledger_id, w.kind, w.reference, w.reason
), ledger AS (
  INSERT INTO stock_ledger (id, stock_id, sku_id, warehouse_id, kind, on_hand_delta, reserved_delta,
                            reference, reason, actor)
  SELECT ledger_id, id, sku_id, warehouse_id, kind, on_hand_delta, reserved_delta, reference, reason, $8
    FROM moved
), locked AS (
  SELECT k.id FROM skus k WHERE k.id IN (SELECT sku_id FROM moved) ORDER BY k.id FOR UPDATE
), totals AS (
  UPDATE skus k SET available = k.available + d.delta, version = k.version + 1
    FROM (SELECT sku_id, sum(on_hand_delta - reserved_delta)::int AS delta FROM moved GROUP BY sku_id) d
    JOIN locked l ON l.id = d.sku_id
   WHERE k.id = d.sku_id
  RETURNING k.id, k.shop_id, k.available, k.version, k.perishable, d.delta
)
SELECT m.id, m.sku_id, m.warehouse_id, m.shop_id, m.on_hand, m.reserved, m.available, m.safety_stock,
       m.reorder_point, t.shop_id AS sku_shop_id, t.available AS sku_available, t.version AS sku_version,
       t.delta AS sku_delta, t.perishable
  FROM moved m JOIN totals t ON t.id = m.sku_id
"""
# Units arriving in a lot, created on first need (a CHECK is tested before ON CONFLICT, so only for adding).
_ADD_TO_LOT = text(
    """
    INSERT INTO stock_lots AS l (stock_id, lot_code, expires_on, sku_id, warehouse_id, on_hand, reserved)
    VALUES (:stock_id, :lot_code, :expires_on, :sku_id, :warehouse_id, :on_hand_delta, :reserved_delta)
    ON CONFLICT (stock_id, lot_code, expires_on) DO UPDATE
       SET on_hand = l.on_hand + excluded.on_hand, reserved = l.reserved + excluded.reserved
     WHERE l.reserved + excluded.reserved BETWEEN 0 AND l.on_hand + excluded.on_hand
    RETURNING l.on_hand
    """
)
# Any other change of a lot, never below zero nor holding more than it has (the CHECKs back it up).
_MOVE_LOT = text(
    """
    UPDATE stock_lots
       SET on_hand = on_hand + :on_hand_delta, reserved = reserved + :reserved_delta
     WHERE stock_id = :stock_id AND lot_code = :lot_code AND expires_on = :expires_on
       AND on_hand + :on_hand_delta >= 0
       AND reserved + :reserved_delta BETWEEN 0 AND on_hand + :on_hand_delta
    RETURNING on_hand
    """
)


def _distinct_lines(ordered: Sequence[Movement]) -> list[list[int]]:
    """Indexes of ``ordered`` in batches that move each stock line at most once, in order."""
    batches: list[list[int]] = []
    seen: list[set[str]] = []
    for index, movement in enumerate(ordered):
        round_ = next((n for n, lines in enumerate(seen) if movement.stock_id not in lines), len(seen))
        if round_ == len(seen):
            batches.append([])
            seen.append(set())
        batches[round_].append(index)
        seen[round_].add(movement.stock_id)
    return batches


class StockRepository(SessionRepository):
    """Stock lines, their lots and their ledger."""

    async def move(
        self, movements: Sequence[Movement], *, actor: str, today: date | None = None
    ) -> tuple[list[LineMoved], list[SkuMoved]]:
        """Apply ``movements`` (in stock id order), write their ledger rows and move the SKUs' totals.

        Raises ``NotEnoughAvailable`` for the first movement taking more than its line has
        available; the caller's transaction must then be rolled back (nothing is half-written
        once it is). A perishable SKU's line moves its lots by the same deltas (``Movement.lots``,
        or planned first-expired-first-out, expired lots never held for a buyer); units arriving
        without a lot raise ``LotRequired``, lots not holding what is taken ``NotEnoughAvailable``.
        """
        today = today or utcnow().date()
        ordered = sorted(movements, key=lambda m: m.stock_id)
        connection = await driver_connection(self._session)
        moved: dict[int, Any] = {}
        skus_before: dict[str, int] = {}
        skus_after: dict[str, Any] = {}
        # A line moved twice in one call (two reservations of one batch) goes in two statements: one
        # UPDATE changes a row once.
        for batch in _distinct_lines(ordered):
            rows = {
                str(row["id"]): row
                for row in await connection.fetch(
                    _MOVE_LINES,
                    [ordered[i].stock_id for i in batch],
                    [ordered[i].on_hand_delta for i in batch],
                    [ordered[i].reserved_delta for i in batch],
                    [new_id() for _ in batch],
                    [ordered[i].kind.value for i in batch],
                    [ordered[i].reference for i in batch],
                    [ordered[i].reason for i in batch],
                    actor,
                )
            }
            for i in batch:
                row = rows.get(ordered[i].stock_id)
                if row is None:
                    raise NotEnoughAvailable(ordered[i])
                moved[i] = row
                sku_id = str(row["sku_id"])
                skus_before.setdefault(sku_id, row["sku_available"] - row["sku_delta"])
                skus_after[sku_id] = row
        lines: list[LineMoved] = []
        for i, movement in enumerate(ordered):
            row = moved[i]
            line = stock_row(row)
            if row["perishable"]:
                await self._move_lots(line, movement, today)
            lines.append(LineMoved(line, line.available - movement.available_delta))
        skus_moved = [
            SkuMoved(
                sku_id,
                str(skus_after[sku_id]["sku_shop_id"]),
                skus_before[sku_id],
                skus_after[sku_id]["sku_available"],
                skus_after[sku_id]["sku_version"],
            )
            for sku_id in sorted(skus_after)
            if skus_before[sku_id] != skus_after[sku_id]["sku_available"]
        ]
        return lines, skus_moved

    async def _move_lots(self, line: StockRow, movement: Movement, today: date) -> None:
        deltas: Sequence[LotDelta] = movement.lots
        if not deltas:
            if movement.on_hand_delta > 0:
                raise LotRequired(movement)
            try:
                deltas = plan_lot_deltas(
                    await self.lots(line.id), movement.on_hand_delta, movement.reserved_delta, today
                )
            except LotsShort as exc:
                raise NotEnoughAvailable(movement) from exc
        if (sum(d.on_hand_delta for d in deltas), sum(d.reserved_delta for d in deltas)) != (
            movement.on_hand_delta,
            movement.reserved_delta,
        ):
            raise ValueError(f"the lots of a {movement.kind.value} do not add up to it")
        for delta in deltas:
            moved = await self._session.execute(
                _ADD_TO_LOT if delta.on_hand_delta > 0 and delta.reserved_delta >= 0 else _MOVE_LOT,
                {
                    "stock_id": line.id,
                    "lot_code": delta.code,
                    "expires_on": delta.expires_on,
                    "sku_id": line.sku_id,
                    "warehouse_id": line.warehouse_id,
                    "on_hand_delta": delta.on_hand_delta,
                    "reserved_delta": delta.reserved_delta,
                },
            )
            if moved.first() is None:
                raise NotEnoughAvailable(movement)

    async def lots(self, stock_id: str) -> list[Lot]:
        """The lots of a stock line (its row lock, taken by ``move`` or ``lock_line``, guards them)."""
        result = await self._session.execute(
            select(
                stock_lots.c.lot_code, stock_lots.c.expires_on, stock_lots.c.on_hand, stock_lots.c.reserved
            )
            .where(stock_lots.c.stock_id == stock_id)
            .order_by(stock_lots.c.expires_on, stock_lots.c.lot_code)
        )
        return [Lot(r.lot_code, r.expires_on, r.on_hand, r.reserved) for r in result]

    async def ensure_stock_line(self, *, sku_id: str, warehouse_id: str, shop_id: str) -> StockRow:
        """The stock line of a SKU in a warehouse, created empty when missing (the SKU row too)."""
        await self._session.execute(
            insert(skus)
            .values(id=sku_id, shop_id=shop_id, archived=False, available=0, version=0)
            .on_conflict_do_nothing()
        )
        await self._session.execute(
            insert(stock)
            .values(
                id=new_id(),
                sku_id=sku_id,
                warehouse_id=warehouse_id,
                shop_id=shop_id,
                on_hand=0,
                reserved=0,
                safety_stock=0,
                reorder_point=0,
            )
            .on_conflict_do_nothing(index_elements=["sku_id", "warehouse_id"])
        )
        found = await self.stock_line(sku_id=sku_id, warehouse_id=warehouse_id)
        assert found is not None  # just inserted, or there before
        return found

    async def stock_line(self, *, sku_id: str, warehouse_id: str) -> StockRow | None:
        """The stock line of a SKU in a warehouse, if any."""
        row = (
            await self._session.execute(
                select(*STOCK_COLUMNS).where(stock.c.sku_id == sku_id, stock.c.warehouse_id == warehouse_id)
            )
        ).first()
        return stock_row(row._mapping) if row else None

    async def lock_line(self, stock_id: str) -> StockRow:
        """A stock line, locked until the transaction ends."""
        row = (
            await self._session.execute(
                select(*STOCK_COLUMNS).where(stock.c.id == stock_id).with_for_update()
            )
        ).one()
        return stock_row(row._mapping)

    async def stock_of_sku(self, sku_id: str) -> list[StockRow]:
        """Every stock line of a SKU, by warehouse."""
        result = await self._session.execute(
            select(*STOCK_COLUMNS).where(stock.c.sku_id == sku_id).order_by(stock.c.warehouse_id)
        )
        return [stock_row(row._mapping) for row in result]

    async def stock_of_warehouse(self, warehouse_id: str) -> list[StockRow]:
        """Every stock line of a warehouse."""
        result = await self._session.execute(
            select(*STOCK_COLUMNS).where(stock.c.warehouse_id == warehouse_id).order_by(stock.c.sku_id)
        )
        return [stock_row(row._mapping) for row in result]

    async def set_policy(self, stock_id: str, *, safety_stock: int, reorder_point: int) -> StockRow:
        """Change a line's safety stock and reorder point (not a movement: no ledger row)."""
        row = (
            await self._session.execute(
                update(stock)
                .where(stock.c.id == stock_id)
                .values(safety_stock=safety_stock, reorder_point=reorder_point, updated_at=func.now())
                .returning(*STOCK_COLUMNS)
            )
        ).one()
        return stock_row(row._mapping)

    async def movements(self, stock_id: str, *, before: str | None, limit: int) -> list[Any]:
        """Ledger rows of a line, newest first."""
        query = (
            select(stock_ledger)
            .where(stock_ledger.c.stock_id == stock_id)
            .order_by(stock_ledger.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            query = query.where(stock_ledger.c.id < before)
        return list(await self._session.execute(query))

    async def units_sold(self, warehouse_id: str, *, since: datetime) -> dict[str, int]:
        """Units sold per stock line of a warehouse since ``since``, from the ledger's sale rows."""
        result = await self._session.execute(
            select(stock_ledger.c.stock_id, func.sum(-stock_ledger.c.on_hand_delta).label("sold"))
            .where(
                stock_ledger.c.warehouse_id == warehouse_id,
                stock_ledger.c.kind == MovementKind.SALE.value,
                stock_ledger.c.created_at >= since,
            )
            .group_by(stock_ledger.c.stock_id)
        )
        return {str(row.stock_id): int(row.sold) for row in result}
