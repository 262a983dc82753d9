"""Persistence of the inventory (SQLAlchemy 2.0 Core over asyncpg); never commits, the unit of work does.

All row locking of the inventory lives here, in one order that every use case
follows so that concurrent transactions never deadlock:

1. the reservation row (claimed by inserting it, or ``FOR UPDATE``; the expiry worker with
   ``SKIP LOCKED``),
2. stock rows, in ascending id order (``claim_reservation`` and ``move`` sort them),
3. ``skus`` rows, in ascending id order (``move`` updates them last),
4. the flash-sale allocation row (its ``claimed`` counter).

Stock levels change only through ``move``: a conditional UPDATE of the stock lines
(``... WHERE on_hand - reserved >= <units taken from available>``), an append-only
ledger row per movement, and the SKU's total moved by the same deltas, in one
statement in the caller's transaction. The CHECK constraints of the ``stock`` table back it up.
A perishable SKU's line moves its ``stock_lots`` rows in the same call, by the same
deltas, under the line's row lock (lots have no lock of their own).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    and_,
    func,
    literal,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.db import driver_connection
from toko.platform.ids import new_id
from toko.services.inventory.domain import (
    Allocated,
    Candidate,
    Line,
    Lot,
    LotDelta,
    LotsShort,
    MovementKind,
    ReservationStatus,
    WarehouseKind,
    plan_lot_deltas,
    quantity_bucket,
)

metadata = MetaData()
_UUID = Uuid(as_uuid=False)
_TIME = DateTime(timezone=True)

warehouses = Table(
    "warehouses",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=True),
    Column("name", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
skus = Table(
    "skus",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("product_id", _UUID, nullable=True),
    Column("archived", Boolean, nullable=False),
    Column("available", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("perishable", Boolean, nullable=False, server_default="false"),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
stock = Table(
    "stock",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("shop_id", _UUID, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("available", Integer, Computed("on_hand - reserved", persisted=True)),
    Column("safety_stock", Integer, nullable=False),
    Column("reorder_point", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    Column("updated_at", _TIME, nullable=False, server_default=func.now()),
)
stock_lots = Table(
    "stock_lots",
    metadata,
    Column("stock_id", _UUID, primary_key=True),
    Column("lot_code", Text, primary_key=True),
    Column("expires_on", Date, primary_key=True),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
stock_ledger = Table(
    "stock_ledger",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("stock_id", _UUID, nullable=False),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("kind", Text, nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("reserved_delta", Integer, nullable=False),
    Column("reference", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
reservations = Table(
    "reservations",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("reference", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("lines_digest", Text, nullable=False),
    Column("buyer_city", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    Column("updated_at", _TIME, nullable=False, server_default=func.now()),
)
reservation_allocations = Table(
    "reservation_allocations",
    metadata,
    Column("reservation_id", _UUID, nullable=False),
    Column("stock_id", _UUID, nullable=False),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("quantity", Integer, nullable=False),
)
flash_sale_allocations = Table(
    "flash_sale_allocations",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("campaign_id", _UUID, nullable=False),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("stock_id", _UUID, nullable=False),
    Column("shop_id", _UUID, nullable=False),
    Column("quota", Integer, nullable=False),
    Column("claimed", Integer, nullable=False),
    Column("per_buyer_limit", Integer, nullable=False),
    Column("starts_at", _TIME, nullable=False),
    Column("ends_at", _TIME, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
flash_sale_claims = Table(
    "flash_sale_claims",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("allocation_id", _UUID, nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("claim_key", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
flash_sale_buyers = Table(
    "flash_sale_buyers",
    metadata,
    Column("allocation_id", _UUID, primary_key=True),
    Column("buyer_id", Text, primary_key=True),
    Column("quantity", Integer, nullable=False),
)
suppliers = Table(
    "suppliers",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("name", Text, nullable=False),
    Column("contact_name", Text, nullable=False),
    Column("contact_email", Text, nullable=False),
    Column("contact_phone", Text, nullable=False),
    Column("payment_terms_days", Integer, nullable=False),
    Column("lead_time_days", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
supplier_items = Table(
    "supplier_items",
    metadata,
    Column("supplier_id", _UUID, primary_key=True),
    Column("sku_id", _UUID, primary_key=True),
    Column("supplier_sku", Text, nullable=False),
    Column("cost_amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("min_order_quantity", Integer, nullable=False),
)
purchase_orders = Table(
    "purchase_orders",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("supplier_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    Column("submitted_at", _TIME, nullable=True),
    Column("expected_at", _TIME, nullable=True),
    Column("received_at", _TIME, nullable=True),
)
purchase_order_lines = Table(
    "purchase_order_lines",
    metadata,
    Column("purchase_order_id", _UUID, primary_key=True),
    Column("sku_id", _UUID, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)
goods_receipts = Table(
    "goods_receipts",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("purchase_order_id", _UUID, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("actor", Text, nullable=False),
    Column("received_at", _TIME, nullable=False, server_default=func.now()),
)


# --- movements ----------------------------------------------------------------------------------------------


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
_STOCK_COLUMNS = (
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


# A reservation's first statement: claim the reference, then lock every stock line of its SKUs (in id
# order) and read what the plan needs. The lines are only read once the claim's row is in (``EXISTS``
# gates them), so a concurrent request for the same reference waits on the reference's unique index
# holding nothing, and finds the reference taken (no row back) once the first one commits. The
# warehouse's city and the SKU's state are read by key (subqueries, not joins), so the generic plan the
# reservation runs (ADR 11) never scans a whole table.
_CLAIM_RESERVATION = """
WITH claim AS (
  INSERT INTO reservations (id, reference, status, lines, lines_digest, buyer_city, actor, expires_at)
  VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8)
  ON CONFLICT (reference) DO NOTHING
  RETURNING id, reference, status, lines, expires_at, created_at
), candidates AS (
  SELECT s.id, s.sku_id, s.warehouse_id,
         (SELECT w.city FROM warehouses w WHERE w.id = s.warehouse_id) AS city,
         (SELECT k.archived FROM skus k WHERE k.id = s.sku_id) AS archived,
         s.available - coalesce((SELECT sum(l.on_hand - l.reserved) FROM stock_lots l
                                  WHERE l.stock_id = s.id AND l.expires_on < $10), 0)::int AS available
    FROM stock s
   WHERE s.sku_id = ANY($9::uuid[]) AND EXISTS (SELECT 1 FROM claim)
   ORDER BY s.id
     FOR UPDATE OF s
)
SELECT c.id AS reservation_id, c.reference, c.status, c.lines, c.expires_at, c.created_at,
       l.id, l.sku_id, l.warehouse_id, l.city, l.archived, l.available
  FROM claim c LEFT JOIN candidates l ON true
 ORDER BY l.id
"""
_ADD_ALLOCATIONS = """
INSERT INTO reservation_allocations (reservation_id, stock_id, sku_id, warehouse_id, quantity)
SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::int[])
"""


@dataclass(frozen=True)
class ReservationInputs:
    """A claimed reservation (its row), the stock lines it may draw on, locked, and what stands in its way."""

    row: Any
    candidates: list[Candidate]
    # SKUs with at least one stock line, and those of them taken off sale.
    stocked: frozenset[str]
    archived: frozenset[str]


@dataclass(frozen=True)
class NewReservation:
    """A reservation about to be written."""

    id: str
    reference: str
    status: ReservationStatus
    lines: Sequence[Line]
    lines_digest: str
    buyer_city: str
    actor: str
    expires_at: datetime


def _stock_row(values: Any) -> StockRow:
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


class InventoryRepository:
    """The inventory's tables, within one session's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- stock movements ------------------------------------------------------------------------------------

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
        today = today or datetime.now(UTC).date()
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
            line = _stock_row(row)
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

    async def is_perishable(self, sku_id: str) -> bool:
        """Whether a SKU's stock is kept in lots."""
        found = await self._session.scalar(select(skus.c.perishable).where(skus.c.id == sku_id))
        return bool(found)

    async def set_perishable(self, *, sku_id: str, shop_id: str, perishable: bool) -> int:
        """Mark a SKU (recorded when unknown) perishable or not; returns the units it holds, locked."""
        await self._session.execute(
            insert(skus)
            .values(id=sku_id, shop_id=shop_id, archived=False, available=0, version=0)
            .on_conflict_do_nothing()
        )
        await self._session.execute(select(skus.c.id).where(skus.c.id == sku_id).with_for_update())
        held = await self._session.scalar(
            select(func.coalesce(func.sum(stock.c.on_hand), 0)).where(stock.c.sku_id == sku_id)
        )
        await self._session.execute(update(skus).where(skus.c.id == sku_id).values(perishable=perishable))
        return int(held or 0)

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
                select(*_STOCK_COLUMNS).where(stock.c.sku_id == sku_id, stock.c.warehouse_id == warehouse_id)
            )
        ).first()
        return _stock_row(row._mapping) if row else None

    async def lock_line(self, stock_id: str) -> StockRow:
        """A stock line, locked until the transaction ends."""
        row = (
            await self._session.execute(
                select(*_STOCK_COLUMNS).where(stock.c.id == stock_id).with_for_update()
            )
        ).one()
        return _stock_row(row._mapping)

    async def stock_of_sku(self, sku_id: str) -> list[StockRow]:
        """Every stock line of a SKU, by warehouse."""
        result = await self._session.execute(
            select(*_STOCK_COLUMNS).where(stock.c.sku_id == sku_id).order_by(stock.c.warehouse_id)
        )
        return [_stock_row(row._mapping) for row in result]

    async def set_policy(self, stock_id: str, *, safety_stock: int, reorder_point: int) -> StockRow:
        """Change a line's safety stock and reorder point (not a movement: no ledger row)."""
        row = (
            await self._session.execute(
                update(stock)
                .where(stock.c.id == stock_id)
                .values(safety_stock=safety_stock, reorder_point=reorder_point, updated_at=func.now())
                .returning(*_STOCK_COLUMNS)
            )
        ).one()
        return _stock_row(row._mapping)

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

    # --- skus -----------------------------------------------------------------------------------------------

    async def sku_facts(self, sku_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """Shop and archived flag of each known SKU."""
        result = await self._session.execute(
            select(skus.c.id, skus.c.shop_id, skus.c.archived).where(skus.c.id.in_(sku_ids))
        )
        return {str(r.id): (str(r.shop_id), bool(r.archived)) for r in result}

    async def record_sku(self, *, sku_id: str, shop_id: str, product_id: str) -> None:
        """Learn a SKU from the catalog (its shop and product)."""
        await self._session.execute(
            insert(skus)
            .values(id=sku_id, shop_id=shop_id, product_id=product_id, archived=False, available=0, version=0)
            .on_conflict_do_update(index_elements=["id"], set_={"product_id": product_id})
        )

    async def archive_product_skus(self, product_id: str) -> None:
        """Mark every SKU of an archived product: it can no longer be reserved."""
        await self._session.execute(update(skus).where(skus.c.product_id == product_id).values(archived=True))

    # --- warehouses -----------------------------------------------------------------------------------------

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

    # --- reservations ---------------------------------------------------------------------------------------

    async def claim_reservation(
        self, reservation: NewReservation, sku_ids: Sequence[str], today: date | None = None
    ) -> ReservationInputs | None:
        """Insert the reservation unless its reference is taken (None then), in one round trip with
        every stock line of these SKUs, locked in id order.

        Concurrent claims of one reference are serialized by its unique index: the later one waits
        for the first to end, holding no other lock. A line's available units leave out the unheld
        units of its expired lots: they cannot be sold. The reservation's allocations are added with
        ``add_allocations`` once planned.
        """
        # The reservation's statements have one best plan whatever the SKUs: planned once per connection.
        connection = await driver_connection(self._session, generic_plans=True)
        rows = await connection.fetch(
            _CLAIM_RESERVATION,
            reservation.id,
            reservation.reference,
            reservation.status.value,
            json.dumps([[line.sku_id, line.quantity] for line in reservation.lines]),
            reservation.lines_digest,
            reservation.buyer_city,
            reservation.actor,
            reservation.expires_at,
            list(sku_ids),
            today or datetime.now(UTC).date(),
        )
        if not rows:
            return None
        first = rows[0]
        lines = [row for row in rows if row["id"] is not None]
        return ReservationInputs(
            # Read like the rows SQLAlchemy returns elsewhere: by attribute.
            row=SimpleNamespace(
                id=first["reservation_id"],
                reference=first["reference"],
                status=first["status"],
                lines=first["lines"],
                expires_at=first["expires_at"],
                created_at=first["created_at"],
            ),
            candidates=[
                Candidate(str(r["id"]), str(r["sku_id"]), str(r["warehouse_id"]), r["city"], r["available"])
                for r in lines
            ],
            stocked=frozenset(str(r["sku_id"]) for r in lines),
            archived=frozenset(str(r["sku_id"]) for r in lines if r["archived"]),
        )

    async def reservation(self, reference: str, *, for_update: bool = False) -> Any | None:
        """The reservation row with this reference, if any."""
        query = select(reservations).where(reservations.c.reference == reference)
        if for_update:
            query = query.with_for_update()
        return (await self._session.execute(query)).first()

    async def allocations_of(self, reservation_ids: Sequence[str]) -> list[Any]:
        """The allocation rows of these reservations."""
        if not reservation_ids:
            return []
        result = await self._session.execute(
            select(reservation_allocations)
            .where(reservation_allocations.c.reservation_id.in_(reservation_ids))
            .order_by(reservation_allocations.c.sku_id, reservation_allocations.c.warehouse_id)
        )
        return list(result)

    async def add_allocations(self, reservation_id: str, allocations: Sequence[Allocated]) -> None:
        """Record where a claimed reservation holds its units."""
        connection = await driver_connection(self._session)
        await connection.execute(
            _ADD_ALLOCATIONS,
            reservation_id,
            [a.stock_id for a in allocations],
            [a.sku_id for a in allocations],
            [a.warehouse_id for a in allocations],
            [a.quantity for a in allocations],
        )

    async def set_reservation_status(
        self, reservation_ids: Sequence[str], status: ReservationStatus
    ) -> list[Any]:
        """Move reservations to ``status``; returns their rows."""
        result = await self._session.execute(
            update(reservations)
            .where(reservations.c.id.in_(reservation_ids))
            .values(status=status.value, updated_at=func.now())
            .returning(reservations)
        )
        return list(result)

    async def claim_expired(self, *, now: datetime, limit: int) -> list[Any]:
        """Active reservations past their time, locked; other replicas skip them meanwhile."""
        result = await self._session.execute(
            select(reservations)
            .where(reservations.c.status == ReservationStatus.ACTIVE.value, reservations.c.expires_at <= now)
            .order_by(reservations.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(result)

    # --- flash sales ----------------------------------------------------------------------------------------

    async def overlapping_allocation(self, *, sku_id: str, starts: datetime, ends: datetime) -> Any | None:
        """A flash-sale allocation of the SKU whose window overlaps [starts, ends), if any."""
        return (
            await self._session.execute(
                select(flash_sale_allocations.c.id, flash_sale_allocations.c.campaign_id)
                .where(
                    flash_sale_allocations.c.sku_id == sku_id,
                    and_(
                        flash_sale_allocations.c.starts_at < ends, flash_sale_allocations.c.ends_at > starts
                    ),
                )
                .limit(1)
            )
        ).first()

    async def add_allocation(self, values: dict[str, Any]) -> Any:
        """Insert a flash-sale allocation; returns its row."""
        return (
            await self._session.execute(
                flash_sale_allocations.insert().values(**values).returning(flash_sale_allocations)
            )
        ).one()

    async def allocation(self, campaign_id: str, sku_id: str) -> Any | None:
        """The allocation of a SKU in a campaign, if any."""
        return (
            await self._session.execute(
                select(flash_sale_allocations).where(
                    flash_sale_allocations.c.campaign_id == campaign_id,
                    flash_sale_allocations.c.sku_id == sku_id,
                )
            )
        ).first()

    async def live_allocations(self, now: datetime) -> list[Any]:
        """Allocations whose window has not ended, for reconciling the counters in Valkey."""
        result = await self._session.execute(
            select(flash_sale_allocations).where(flash_sale_allocations.c.ends_at > now)
        )
        return list(result)

    async def buyer_totals(self, allocation_id: str) -> dict[str, int]:
        """Units durably claimed by each buyer of an allocation."""
        result = await self._session.execute(
            select(flash_sale_buyers.c.buyer_id, flash_sale_buyers.c.quantity).where(
                flash_sale_buyers.c.allocation_id == allocation_id
            )
        )
        return {row.buyer_id: row.quantity for row in result}

    async def insert_claim(
        self, *, claim_id: str, allocation_id: str, buyer_id: str, quantity: int, claim_key: str
    ) -> bool:
        """Record a claim; False when one with this key exists (a retry)."""
        inserted = await self._session.execute(
            insert(flash_sale_claims)
            .values(
                id=claim_id,
                allocation_id=allocation_id,
                buyer_id=buyer_id,
                quantity=quantity,
                claim_key=claim_key,
            )
            .on_conflict_do_nothing(index_elements=["allocation_id", "claim_key"])
            .returning(flash_sale_claims.c.id)
        )
        return inserted.first() is not None

    async def claim_by_key(self, allocation_id: str, claim_key: str) -> Any | None:
        """The claim recorded under a key, if any."""
        return (
            await self._session.execute(
                select(flash_sale_claims).where(
                    flash_sale_claims.c.allocation_id == allocation_id,
                    flash_sale_claims.c.claim_key == claim_key,
                )
            )
        ).first()

    async def add_to_buyer_total(
        self, *, allocation_id: str, buyer_id: str, quantity: int, limit: int
    ) -> int | None:
        """The buyer's new total, or None when it would pass ``limit`` (nothing changes then)."""
        statement = insert(flash_sale_buyers).values(
            allocation_id=allocation_id, buyer_id=buyer_id, quantity=quantity
        )
        result = await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["allocation_id", "buyer_id"],
                set_={"quantity": flash_sale_buyers.c.quantity + statement.excluded.quantity},
                where=flash_sale_buyers.c.quantity + statement.excluded.quantity <= limit,
            ).returning(flash_sale_buyers.c.quantity)
        )
        row = result.first()
        return None if row is None else int(row.quantity)

    async def add_claimed(self, allocation_id: str, quantity: int, now: datetime) -> int | None:
        """Units left after counting a claim, or None when the quota (or window) does not allow it."""
        result = await self._session.execute(
            update(flash_sale_allocations)
            .where(
                flash_sale_allocations.c.id == allocation_id,
                flash_sale_allocations.c.claimed + quantity <= flash_sale_allocations.c.quota,
                flash_sale_allocations.c.starts_at <= now,
                flash_sale_allocations.c.ends_at > now,
            )
            .values(claimed=flash_sale_allocations.c.claimed + quantity)
            .returning(flash_sale_allocations.c.quota - flash_sale_allocations.c.claimed)
        )
        row = result.first()
        return None if row is None else int(row[0])

    # --- lots of perishable SKUs ----------------------------------------------------------------------------

    async def claim_lines_with_expired_lots(self, *, today: date, limit: int) -> list[StockRow]:
        """Stock lines with unheld units in lots past their date, locked in id order (at most ``limit``).

        ``SKIP LOCKED``: lines another replica's pass, or any other use case, holds are left for a later pass.
        """
        expired = select(stock_lots.c.stock_id).where(
            stock_lots.c.expires_on < today, stock_lots.c.on_hand > stock_lots.c.reserved
        )
        result = await self._session.execute(
            select(*_STOCK_COLUMNS)
            .where(stock.c.id.in_(expired))
            .order_by(stock.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_stock_row(row._mapping) for row in result]

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


class PurchasingRepository:
    """Suppliers, their catalogues and purchase orders, within one session's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

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

    async def stock_of_warehouse(self, warehouse_id: str) -> list[StockRow]:
        """Every stock line of a warehouse."""
        result = await self._session.execute(
            select(*_STOCK_COLUMNS).where(stock.c.warehouse_id == warehouse_id).order_by(stock.c.sku_id)
        )
        return [_stock_row(row._mapping) for row in result]

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
