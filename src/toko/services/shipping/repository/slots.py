"""Delivery slots and the holds kept on them; a place is taken by one conditional UPDATE."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
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
    slot_holds,
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


async def give_back_slot_place(session: AsyncSession, slot_id: str, places: int = 1) -> None:
    """Give booked places of the slot back (a shipment left it, holds were released)."""
    await session.execute(
        update(delivery_slots)
        .where(delivery_slots.c.id == slot_id, delivery_slots.c.booked > 0)
        .values(booked=func.greatest(delivery_slots.c.booked - places, 0))
    )


async def add_hold(session: AsyncSession, hold: domain.SlotHold, at: datetime) -> bool:
    """Insert a hold unless its reference has one: whether it was inserted."""
    # A concurrent insert of the same reference waits for this transaction to end, then does nothing:
    # two calls never both go on to take a place.
    inserted = await session.execute(
        insert(slot_holds)
        .values(
            reference=hold.reference,
            slot_id=hold.slot_id,
            state=int(hold.state),
            expires_at=hold.expires_at,
            created_at=at,
            updated_at=at,
        )
        .on_conflict_do_nothing(index_elements=[slot_holds.c.reference])
        .returning(slot_holds.c.reference)
    )
    return inserted.first() is not None


async def get_hold(session: AsyncSession, reference: str) -> domain.SlotHold | None:
    """The hold under ``reference``, in whatever state, or None."""
    row = (await session.execute(select(slot_holds).where(slot_holds.c.reference == reference))).first()
    return None if row is None else _hold(row)


async def release_hold(session: AsyncSession, reference: str, at: datetime) -> domain.SlotHold | None:
    """Release a held hold (the caller gives its place back): the hold, or None when it was not held."""
    return await _leave_held(session, reference, domain.HoldState.RELEASED, at)


async def book_hold(session: AsyncSession, reference: str, slot_id: str, at: datetime) -> bool:
    """Book a hold held on ``slot_id``, expired or not (its place is the shipment's now): whether it was."""
    return await _leave_held(session, reference, domain.HoldState.BOOKED, at, slot_id=slot_id) is not None


async def lapse_expired_holds(session: AsyncSession, slot_ids: Sequence[str], now: datetime) -> set[str]:
    """Release the slots' holds held past their expiry and give their places back: the slots that got some."""
    # Claimed FOR UPDATE SKIP LOCKED: a hold a concurrent call is releasing, booking or lapsing is left
    # to it, so a lapse never waits on a hold and no hold is counted twice.
    due = (
        select(slot_holds.c.reference)
        .where(
            slot_holds.c.slot_id.in_(slot_ids),
            slot_holds.c.state == int(domain.HoldState.HELD),
            slot_holds.c.expires_at <= now,
        )
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = await session.execute(
        update(slot_holds)
        .where(slot_holds.c.reference.in_(due), slot_holds.c.state == int(domain.HoldState.HELD))
        .values(state=int(domain.HoldState.RELEASED), updated_at=now)
        .returning(slot_holds.c.slot_id)
    )
    lapsed = Counter(row.slot_id for row in rows)
    # Slot rows in id order, so two transactions giving places back to several slots never deadlock.
    for slot_id in sorted(lapsed):
        await give_back_slot_place(session, slot_id, lapsed[slot_id])
    return set(lapsed)


async def _leave_held(
    session: AsyncSession, reference: str, state: domain.HoldState, at: datetime, *, slot_id: str = ""
) -> domain.SlotHold | None:
    # Conditional on ``held``: of a release, a booking and a lapse racing for one hold, exactly one moves it.
    query = update(slot_holds).where(
        slot_holds.c.reference == reference, slot_holds.c.state == int(domain.HoldState.HELD)
    )
    if slot_id:
        query = query.where(slot_holds.c.slot_id == slot_id)
    row = (await session.execute(query.values(state=int(state), updated_at=at).returning(slot_holds))).first()
    return None if row is None else _hold(row)


def _hold(row: Row[Any]) -> domain.SlotHold:
    return domain.SlotHold(
        reference=row.reference,
        slot_id=row.slot_id,
        state=domain.HoldState(row.state),
        expires_at=row.expires_at,
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
