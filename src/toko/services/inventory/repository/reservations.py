"""Reservations of stock for an order reference, and where each one holds its units."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.platform.clock import utcnow
from toko.platform.db import driver_connection
from toko.services.inventory.domain import Allocated, Candidate, Line, ReservationStatus
from toko.services.inventory.repository.common import SessionRepository
from toko.services.inventory.repository.tables import (
    reservation_allocations,
    reservation_returns,
    reservations,
    skus,
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
INSERT INTO reservation_allocations (reservation_id, stock_id, sku_id, warehouse_id, quantity, claim_id)
SELECT $1, * FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::int[], $6::uuid[])
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


class ReservationRepository(SessionRepository):
    """The reservations and reservation_allocations tables."""

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
            json.dumps(
                [
                    [line.sku_id, line.quantity, line.claim_id]
                    if line.claim_id
                    else [line.sku_id, line.quantity]
                    for line in reservation.lines
                ]
            ),
            reservation.lines_digest,
            reservation.buyer_city,
            reservation.actor,
            reservation.expires_at,
            list(sku_ids),
            today or utcnow().date(),
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
            [a.claim_id for a in allocations],
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

    async def earliest_expiry(self) -> datetime | None:
        """When the first active reservation expires; None when none is active (read off the expiry index)."""
        earliest: datetime | None = await self._session.scalar(
            select(func.min(reservations.c.expires_at)).where(
                reservations.c.status == ReservationStatus.ACTIVE.value
            )
        )
        return earliest

    async def return_of(self, return_reference: str) -> Any | None:
        """A return recorded under this reference, if any."""
        return (
            await self._session.execute(
                select(reservation_returns).where(reservation_returns.c.return_reference == return_reference)
            )
        ).first()

    async def returns_of(self, reservation_id: str) -> list[Any]:
        """Every return of a reservation."""
        result = await self._session.execute(
            select(reservation_returns).where(reservation_returns.c.reservation_id == reservation_id)
        )
        return list(result)

    async def add_return(
        self,
        *,
        return_reference: str,
        reservation_id: str,
        lines_digest: str,
        returned: Sequence[Allocated],
        left_out: Sequence[str],
    ) -> bool:
        """Record a return: what went back where, and what was left out; False when its reference is
        taken (by a return of another reservation: one reservation's returns queue on its row lock)."""
        inserted = await self._session.execute(
            insert(reservation_returns)
            .values(
                return_reference=return_reference,
                reservation_id=reservation_id,
                lines_digest=lines_digest,
                returned=[[a.stock_id, a.sku_id, a.warehouse_id, a.quantity] for a in returned],
                left_out=list(left_out),
            )
            .on_conflict_do_nothing(index_elements=["return_reference"])
            .returning(reservation_returns.c.return_reference)
        )
        return inserted.first() is not None

    async def perishable_of(self, sku_ids: Sequence[str]) -> set[str]:
        """Which of these SKUs are perishable."""
        result = await self._session.execute(
            select(skus.c.id).where(skus.c.id.in_(sku_ids), skus.c.perishable.is_(True))
        )
        return {str(row.id) for row in result}
