"""What the use cases share: their dependencies, and applying a courier's report to a shipment."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from toko.platform.cache import ReadThroughCache
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.services.shipping import domain
from toko.services.shipping.couriers.common import CourierApi, TrackReport
from toko.services.shipping.mapping import shipment_to_proto
from toko.services.shipping.repository import shipments as shipments_store
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
