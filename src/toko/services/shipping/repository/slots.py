"""Delivery slots; a place is taken by one conditional UPDATE."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Row,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.shipping import domain
from toko.services.shipping.repository.tables import (
    delivery_slots,
)


async def upsert_slots(session: AsyncSession, slots: list[domain.Slot]) -> list[domain.Slot]:
    """Record the courier's slots (their capacity as it says now) and return them with what toko booked."""
    if not slots:
        return []
    values = insert(delivery_slots).values(
        [
            {
                "id": slot.id,
                "courier": slot.courier,
                "service": slot.service,
                "city": slot.city,
                "starts_at": slot.starts_at,
                "ends_at": slot.ends_at,
                "capacity": slot.capacity,
                "booked": 0,
            }
            for slot in slots
        ]
    )
    # A capacity the courier lowered below what is booked keeps what is booked (the check constraint).
    statement = values.on_conflict_do_update(
        index_elements=[delivery_slots.c.id],
        set_={"capacity": func.greatest(values.excluded.capacity, delivery_slots.c.booked)},
    ).returning(delivery_slots)
    rows = (await session.execute(statement)).all()
    by_id = {row.id: _slot(row) for row in rows}
    return [by_id[slot.id] for slot in slots]


async def get_slot(session: AsyncSession, slot_id: str) -> domain.Slot | None:
    """The slot, or None."""
    row = (await session.execute(select(delivery_slots).where(delivery_slots.c.id == slot_id))).first()
    return None if row is None else _slot(row)


async def take_slot_place(session: AsyncSession, slot_id: str) -> bool:
    """Book one place in the slot if one is left: False when it is full (or unknown).

    One conditional UPDATE: concurrent bookings queue on the row, and each sees the count the
    one before it left, so the last place goes to exactly one of them.
    """
    taken = await session.execute(
        update(delivery_slots)
        .where(delivery_slots.c.id == slot_id, delivery_slots.c.booked < delivery_slots.c.capacity)
        .values(booked=delivery_slots.c.booked + 1)
        .returning(delivery_slots.c.id)
    )
    return taken.first() is not None


async def give_back_slot_place(session: AsyncSession, slot_id: str) -> None:
    """Give one booked place of the slot back (a shipment left it)."""
    await session.execute(
        update(delivery_slots)
        .where(delivery_slots.c.id == slot_id, delivery_slots.c.booked > 0)
        .values(booked=delivery_slots.c.booked - 1)
    )


def _slot(row: Row[Any]) -> domain.Slot:
    return domain.Slot(
        id=row.id,
        courier=row.courier,
        service=row.service,
        city=row.city,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        capacity=row.capacity,
        booked=row.booked,
    )


# ---- shipments ----------------------------------------------------------------------------------
