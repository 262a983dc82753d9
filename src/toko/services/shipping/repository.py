"""Persistence of rates, slots, shipments and courier webhooks (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. Every function reads
and writes in the caller's session and never commits; the unit of work does. All row locking of
the service is here: a slot's place is taken by one conditional UPDATE, so a full slot can never
be overbooked; the tracking poller claims shipments with ``FOR UPDATE SKIP LOCKED``.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    SmallInteger,
    Table,
    Text,
    Uuid,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.shipping import domain

metadata = MetaData()
_JSON = JSON().with_variant(JSONB(), "postgresql")

shipping_rates = Table(
    "shipping_rates",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("courier", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("chargeable_grams", Integer, nullable=False),
    Column("etd_min_days", SmallInteger, nullable=False),
    Column("etd_max_days", SmallInteger, nullable=False),
    Column("cod_available", Boolean, nullable=False),
    Column("insurance_fee", BigInteger, nullable=False),
    Column("slotted", Boolean, nullable=False),
    Column("origin", _JSON, nullable=False),
    Column("destination", _JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

delivery_slots = Table(
    "delivery_slots",
    metadata,
    Column("id", Text, primary_key=True),
    Column("courier", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("booked", Integer, nullable=False),
)

shipments = Table(
    "shipments",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("shop_id", Text, nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("rate_id", Uuid(as_uuid=False), nullable=False),
    Column("courier", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("waybill", Text, nullable=True),
    Column("status", SmallInteger, nullable=False),
    Column("slot_id", Text, nullable=True),
    Column("booking", _JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("polled_at", DateTime(timezone=True), nullable=True),
)

tracking_events = Table(
    "tracking_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("shipment_id", Uuid(as_uuid=False), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("courier_status", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
)

courier_webhooks = Table(
    "courier_webhooks",
    metadata,
    Column("courier", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),
)


# ---- rates --------------------------------------------------------------------------------------


async def add_rates(session: AsyncSession, rates: list[domain.Rate]) -> None:
    """Keep quoted rates."""
    if not rates:
        return
    await session.execute(
        shipping_rates.insert(),
        [
            {
                "id": rate.id,
                "courier": rate.courier,
                "service": rate.service,
                "service_name": rate.service_name,
                "level": int(rate.level),
                "price": rate.price,
                "currency": rate.currency,
                "chargeable_grams": rate.chargeable_grams,
                "etd_min_days": rate.etd_min_days,
                "etd_max_days": rate.etd_max_days,
                "cod_available": rate.cod_available,
                "insurance_fee": rate.insurance_fee,
                "slotted": rate.slotted,
                "origin": asdict(rate.origin),
                "destination": asdict(rate.destination),
                "created_at": rate.created_at,
                "expires_at": rate.expires_at,
            }
            for rate in rates
        ],
    )


async def get_rate(session: AsyncSession, rate_id: str) -> domain.Rate | None:
    """The rate, expired or not, or None."""
    row = (await session.execute(select(shipping_rates).where(shipping_rates.c.id == rate_id))).first()
    if row is None:
        return None
    return domain.Rate(
        id=str(row.id),
        courier=row.courier,
        service=row.service,
        service_name=row.service_name,
        level=domain.Level(row.level),
        price=row.price,
        chargeable_grams=row.chargeable_grams,
        etd_min_days=row.etd_min_days,
        etd_max_days=row.etd_max_days,
        cod_available=row.cod_available,
        insurance_fee=row.insurance_fee,
        slotted=row.slotted,
        origin=domain.Place(**row.origin),
        destination=domain.Place(**row.destination),
        created_at=row.created_at,
        expires_at=row.expires_at,
        currency=row.currency,
    )


# ---- slots --------------------------------------------------------------------------------------


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


async def add_shipment(session: AsyncSession, shipment: domain.Shipment, booking: dict[str, Any]) -> bool:
    """Insert a shipment unless its order has one: whether it was inserted."""
    inserted = await session.execute(
        insert(shipments)
        .values(
            id=shipment.id,
            order_id=shipment.order_id,
            shop_id=shipment.shop_id,
            buyer_id=shipment.buyer_id,
            rate_id=shipment.rate_id,
            courier=shipment.courier,
            service=shipment.service,
            waybill=shipment.waybill or None,
            status=int(shipment.status),
            slot_id=shipment.slot.id if shipment.slot else None,
            booking=booking,
            created_at=shipment.created_at,
            updated_at=shipment.updated_at,
        )
        .on_conflict_do_nothing(index_elements=[shipments.c.order_id])
        .returning(shipments.c.id)
    )
    return inserted.first() is not None


async def booking_of(session: AsyncSession, shipment_id: str) -> dict[str, Any]:
    """What was recorded to book the shipment with its courier."""
    booking: dict[str, Any] = (
        await session.execute(select(shipments.c.booking).where(shipments.c.id == shipment_id))
    ).scalar_one()
    return booking


async def set_waybill(session: AsyncSession, shipment_id: str, waybill: str) -> bool:
    """Record the courier's waybill once: whether this call recorded it."""
    done = await session.execute(
        update(shipments)
        .where(shipments.c.id == shipment_id, shipments.c.waybill.is_(None))
        .values(waybill=waybill)
        .returning(shipments.c.id)
    )
    return done.first() is not None


async def get_shipment(
    session: AsyncSession, *, shipment_id: str = "", order_id: str = "", lock: bool = False
) -> domain.Shipment | None:
    """A shipment with its slot and tracking, by id or by order; ``lock`` holds its row to the end."""
    query = select(shipments)
    query = (
        query.where(shipments.c.id == shipment_id)
        if shipment_id
        else query.where(shipments.c.order_id == order_id)
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else await _shipment(session, row)


async def shipment_by_waybill(session: AsyncSession, courier: str, waybill: str) -> domain.Shipment | None:
    """The shipment a courier's waybill belongs to, its row locked to the end of the transaction."""
    row = (
        await session.execute(
            select(shipments)
            .where(shipments.c.courier == courier, shipments.c.waybill == waybill)
            .with_for_update()
        )
    ).first()
    return None if row is None else await _shipment(session, row)


async def add_tracking(session: AsyncSession, shipment_id: str, event: domain.TrackingEvent) -> bool:
    """Record a courier's report once (a report seen by webhook and again by polling is one): whether new."""
    inserted = await session.execute(
        insert(tracking_events)
        .values(
            shipment_id=shipment_id,
            status=int(event.status),
            courier_status=event.courier_status,
            description=event.description,
            location=event.location,
            event_time=event.event_time,
        )
        .on_conflict_do_nothing(constraint="tracking_events_once")
        .returning(tracking_events.c.id)
    )
    return inserted.first() is not None


async def set_status(session: AsyncSession, shipment_id: str, status: domain.Status, at: datetime) -> None:
    """Move a shipment to ``status``."""
    await session.execute(
        update(shipments).where(shipments.c.id == shipment_id).values(status=int(status), updated_at=at)
    )


async def touch(session: AsyncSession, shipment_id: str, at: datetime) -> None:
    """Record that the courier reported on the shipment."""
    await session.execute(update(shipments).where(shipments.c.id == shipment_id).values(updated_at=at))


async def claim_quiet_shipments(
    session: AsyncSession, *, quiet_since: datetime, now: datetime, limit: int
) -> list[tuple[str, str, str]]:
    """(id, courier, waybill) of booked shipments in flight without news since ``quiet_since``, marked polled.

    Claimed with ``FOR UPDATE SKIP LOCKED`` and marked in the same statement, so two replicas never
    poll the same shipment in one round.
    """
    quiet = (
        select(shipments.c.id)
        .where(
            shipments.c.status.not_in([int(status) for status in domain.TERMINAL]),
            shipments.c.waybill.is_not(None),
            shipments.c.updated_at < quiet_since,
            (shipments.c.polled_at.is_(None)) | (shipments.c.polled_at < quiet_since),
        )
        .order_by(shipments.c.updated_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    rows = await session.execute(
        update(shipments)
        .where(shipments.c.id.in_(quiet))
        .values(polled_at=now)
        .returning(shipments.c.id, shipments.c.courier, shipments.c.waybill)
    )
    return [(str(row.id), row.courier, row.waybill) for row in rows]


async def _shipment(session: AsyncSession, row: Row[Any]) -> domain.Shipment:
    slot = await get_slot(session, row.slot_id) if row.slot_id else None
    events = await session.execute(
        select(tracking_events)
        .where(tracking_events.c.shipment_id == row.id)
        .order_by(tracking_events.c.event_time, tracking_events.c.id)
    )
    return domain.Shipment(
        id=str(row.id),
        order_id=row.order_id,
        shop_id=row.shop_id,
        buyer_id=row.buyer_id,
        rate_id=str(row.rate_id),
        courier=row.courier,
        service=row.service,
        status=domain.Status(row.status),
        created_at=row.created_at,
        updated_at=row.updated_at,
        waybill=row.waybill or "",
        slot=slot,
        tracking=tuple(
            domain.TrackingEvent(
                status=domain.Status(event.status),
                courier_status=event.courier_status,
                description=event.description,
                location=event.location,
                event_time=event.event_time,
            )
            for event in events
        ),
    )


# ---- webhooks -----------------------------------------------------------------------------------


async def record_webhook(
    session: AsyncSession, *, courier: str, event_id: str, body: bytes, at: datetime
) -> bool:
    """Keep a verified webhook's raw body under the courier's event id: False for an event seen before."""
    inserted = await session.execute(
        insert(courier_webhooks)
        .values(courier=courier, event_id=event_id, received_at=at, body=body)
        .on_conflict_do_nothing()
        .returning(courier_webhooks.c.event_id)
    )
    return inserted.first() is not None
