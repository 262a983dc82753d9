"""Delivery slots of the instant and same-day services: the courier's windows, toko's own capacity count."""

from __future__ import annotations

from datetime import date, timedelta, timezone

from toko.platform.errors import InvalidArgument, NotFound, Unavailable
from toko.platform.rules import Violation
from toko.platform.text import checked_text
from toko.platform.validation import invalid
from toko.services.shipping import domain
from toko.services.shipping.couriers.common import CourierError
from toko.services.shipping.error_codes import ErrorCode
from toko.services.shipping.handlers.common import SOURCE, Shipping
from toko.services.shipping.mapping import slot_to_proto
from toko.services.shipping.repository import slots as slots_store
from toko.shipping.v1 import shipping_pb2 as pb

# Slot days are Western Indonesian Time days.
WIB = timezone(timedelta(hours=7))
MAX_SLOT_ID_LENGTH = 200


def slotted_service(courier_code: str, service_code: str) -> tuple[domain.Courier, domain.Service]:
    """The courier and its slotted service, or INVALID_ARGUMENT naming the field at fault."""
    courier = domain.find_courier(courier_code)
    if courier is None:
        raise InvalidArgument.field(
            "courier", f"must be one of {', '.join(domain.COURIER_CODES)}", ErrorCode.UNKNOWN_COURIER
        )
    service = courier.service(service_code)
    if service is None:
        codes = ", ".join(s.code for s in courier.services)
        raise InvalidArgument.field("service", f"must be one of {codes}", ErrorCode.UNKNOWN_SERVICE)
    if not service.slotted:
        raise InvalidArgument.field("service", "has no delivery slots", ErrorCode.SERVICE_NOT_SLOTTED)
    return courier, service


async def list_slots(
    *, shipping: Shipping, courier_code: str, service_code: str, city: str, day: str
) -> list[pb.DeliverySlot]:
    """The day's windows of a slotted service from a city, earliest first, with the capacity left."""
    courier, service = slotted_service(courier_code, service_code)
    city, bad_city = checked_text(
        city, "city", ErrorCode.INVALID_PLACE, maximum=domain.MAX_PLACE_FIELD_LENGTH
    )
    today = shipping.clock().astimezone(WIB).date()
    violations: list[Violation] = list(bad_city)
    try:
        wanted = date.fromisoformat(day) if day else today
    except ValueError:
        violations.append(Violation("date", "must be YYYY-MM-DD", ErrorCode.INVALID_DATE))
    else:
        if not today <= wanted <= today + timedelta(days=30):
            violations.append(Violation("date", "must be today or within 30 days", ErrorCode.INVALID_DATE))
    if violations:
        raise invalid(violations)
    try:
        offered = await shipping.couriers[courier.code].slots(
            service=service.code, city=city, day=wanted.isoformat()
        )
    except CourierError as exc:
        raise Unavailable(ErrorCode.COURIER_UNAVAILABLE, f"{courier.name} did not answer; retry") from exc
    slots = [
        domain.Slot(o.id, courier.code, service.code, city, o.starts_at, o.ends_at, capacity=o.capacity)
        for o in offered
    ]
    async with shipping.database.unit_of_work(SOURCE) as uow:
        known = await slots_store.upsert_slots(uow.session, slots)
        await uow.commit()
    return [slot_to_proto(slot) for slot in sorted(known, key=lambda slot: slot.starts_at)]


async def get_slot(*, shipping: Shipping, slot_id: str) -> domain.Slot:
    """A slot offered before (ListDeliverySlots records each one it shows), with what is booked of it."""
    if not 1 <= len(slot_id) <= MAX_SLOT_ID_LENGTH:
        raise invalid([Violation("id", f"1 to {MAX_SLOT_ID_LENGTH} characters", ErrorCode.SLOT_NOT_FOUND)])
    async with shipping.database.sessions() as session:
        found = await slots_store.get_slot(session, slot_id)
    if found is None:
        raise NotFound(ErrorCode.SLOT_NOT_FOUND, f"no delivery slot {slot_id}")
    return found
