"""What the use cases share: their dependencies, taking a slot's place, applying a courier's report."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.cache import ReadThroughCache
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.services.shipping import domain
from toko.services.shipping.couriers.common import CourierApi, TrackReport
from toko.services.shipping.mapping import shipment_to_proto
from toko.services.shipping.repository import shipments as shipments_store
from toko.services.shipping.repository import slots as slots_store
from toko.shipping.v1 import events_pb2
from toko.shipping.v1 import shipping_pb2 as pb

SOURCE = "shipping"
log = logging.getLogger("toko.shipping")


@dataclass(frozen=True)
class Shipping:
    """What the use cases work with."""

    database: Database
    couriers: Mapping[str, CourierApi]
    cache: ReadThroughCache
    courier_timeout: float = 2.0
    rate_cache_seconds: float = 300.0
    rate_ttl: timedelta = timedelta(minutes=30)
    clock: Clock = field(default=utcnow)


async def take_slot_place(session: AsyncSession, slot_id: str, now: datetime) -> bool:
    """Take one place of the slot: False when it is full even after its expired holds lapsed."""
    if await slots_store.take_slot_place(session, slot_id):
        return True
    # Expired holds lapse when their place is wanted (or shown) rather than on a timer: a full slot is
    # where they matter, and no worker has to sweep every slot.
    if not await slots_store.lapse_expired_holds(session, [slot_id], now):
        return False
    return await slots_store.take_slot_place(session, slot_id)


async def apply_report(
    uow: UnitOfWork, shipment: domain.Shipment, report: TrackReport
) -> domain.Status | None:
    """Record a courier's report on a (locked) shipment and move its status, raising the events.

    Returns the new status, or None when the report changes nothing (a report already recorded,
    an unknown status word, or one the shipment is past). ``ShipmentDelivered`` is raised once:
    a delivered shipment never moves again.
    """
    courier = domain.find_courier(shipment.courier)
    reported = courier.status_of(report.word) if courier else None
    if reported is None:
        log.warning("unknown courier status", extra={"courier": shipment.courier, "status": report.word})
        return None
    event = domain.TrackingEvent(reported, report.word, report.description, report.location, report.time)
    if not await shipments_store.add_tracking(uow.session, shipment.id, event):
        return None
    now = utcnow()
    moved = domain.next_status(shipment.status, reported)
    if moved is None:
        await shipments_store.touch(uow.session, shipment.id, now)
        return None
    await shipments_store.set_status(uow.session, shipment.id, moved, now)
    after = await shipments_store.get_shipment(uow.session, shipment_id=shipment.id)
    assert after is not None
    message = shipment_to_proto(after)
    uow.publish(
        events_pb2.ShipmentStatusChanged(
            shipment=message, previous_status=pb.ShipmentStatus.ValueType(shipment.status)
        ),
        subject=shipment.id,
    )
    if moved == domain.Status.DELIVERED:
        uow.publish(events_pb2.ShipmentDelivered(shipment=message), subject=shipment.id)
    return moved
