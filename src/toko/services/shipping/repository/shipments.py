"""Shipments, their tracking history, and the couriers' webhooks as received."""

from __future__ import annotations

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
from toko.services.shipping.repository.slots import get_slot
from toko.services.shipping.repository.tables import (
    courier_webhooks,
    shipments,
    tracking_events,
)


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


async def set_slot(session: AsyncSession, shipment_id: str, slot_id: str, at: datetime) -> None:
    """Move the shipment to another slot, in its booking document too (a booking retried uses it)."""
    await session.execute(
        update(shipments)
        .where(shipments.c.id == shipment_id)
        .values(
            slot_id=slot_id,
            booking=shipments.c.booking.op("||")(func.jsonb_build_object("slot_id", slot_id)),
            updated_at=at,
        )
    )


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
