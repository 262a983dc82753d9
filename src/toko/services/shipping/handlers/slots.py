"""Delivery slots of the instant and same-day services: the courier's windows, toko's own capacity count.

A checkout holds a slot's place under its reference (counted in the slot's ``booked`` like a shipment),
so two buyers are never both promised the last one; the shipment citing the hold books that place, a
release gives it back, and a hold neither booked nor released lapses once it expired, the next time
the slot's capacity is wanted or shown.
"""

from __future__ import annotations

from datetime import date, timedelta, timezone
from functools import partial

from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound, Unavailable
from toko.platform.rules import Violation
from toko.platform.text import checked_text
from toko.platform.validation import invalid, ruled
from toko.services.shipping import domain
from toko.services.shipping.couriers.common import CourierError
from toko.services.shipping.error_codes import ErrorCode
from toko.services.shipping.handlers.common import SOURCE, Shipping, take_slot_place
from toko.services.shipping.mapping import hold_to_proto, slot_to_proto
from toko.services.shipping.repository import slots as slots_store
from toko.shipping.v1 import shipping_pb2 as pb

# Slot days are Western Indonesian Time days.
WIB = timezone(timedelta(hours=7))


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
        # Expired holds are lapsed before the capacity is shown, rather than counted out of it here: the
        # counter stays the one figure take_slot_place checks. After the upsert, which locked the day's
        # slots in one order, so two listings giving places back cannot deadlock.
        lapsed = await slots_store.lapse_expired_holds(
            uow.session, [slot.id for slot in known], shipping.clock()
        )
        known = [
            (await slots_store.get_slot(uow.session, slot.id) or slot) if slot.id in lapsed else slot
            for slot in known
        ]
        await uow.commit()
    return [slot_to_proto(slot) for slot in sorted(known, key=lambda slot: slot.starts_at)]


async def get_slot(*, shipping: Shipping, slot_id: str) -> domain.Slot:
    """A slot offered before (ListDeliverySlots records each one it shows), with what is booked of it."""
    if not 1 <= len(slot_id) <= domain.MAX_SLOT_ID_LENGTH:
        raise invalid(
            [Violation("id", f"1 to {domain.MAX_SLOT_ID_LENGTH} characters", ErrorCode.SLOT_NOT_FOUND)]
        )
    async with shipping.database.unit_of_work(SOURCE) as uow:
        # The slot's expired holds lapse first, as in ListDeliverySlots: the capacity shown is the counter.
        await slots_store.lapse_expired_holds(uow.session, [slot_id], shipping.clock())
        found = await slots_store.get_slot(uow.session, slot_id)
        await uow.commit()
    if found is None:
        raise NotFound(ErrorCode.SLOT_NOT_FOUND, f"no delivery slot {slot_id}")
    return found


async def hold_slot(*, shipping: Shipping, reference: str, slot_id: str, ttl_seconds: int) -> pb.SlotHold:
    """Keep one place of a slot under a reference; the same reference holds once, whatever became of it."""
    request = ruled(
        partial(domain.hold_request, reference=reference, slot_id=slot_id, ttl_seconds=ttl_seconds)
    )
    async with shipping.database.unit_of_work(SOURCE) as uow:
        now = shipping.clock()
        held = await slots_store.get_hold(uow.session, request.reference)
        if held is None:
            slot = await slots_store.get_slot(uow.session, request.slot_id)
            if slot is None:
                raise NotFound(ErrorCode.SLOT_NOT_FOUND, f"no delivery slot {request.slot_id}")
            if slot.starts_at <= now:
                raise FailedPrecondition(
                    ErrorCode.SLOT_STARTED, "the delivery slot has started; pick another"
                )
            hold = domain.SlotHold(request.reference, slot.id, domain.HoldState.HELD, now + request.ttl)
            # The hold goes in before its place is taken: a concurrent call under the same reference waits
            # on this insert, then finds this hold rather than taking a second place.
            if await slots_store.add_hold(uow.session, hold, now):
                if not await take_slot_place(uow.session, slot.id, now):
                    raise FailedPrecondition(ErrorCode.SLOT_FULL, "the delivery slot is full; pick another")
                await uow.commit()
                return hold_to_proto(hold)
            held = await slots_store.get_hold(uow.session, request.reference)
            assert held is not None, "holds are never deleted"
    if held.slot_id != request.slot_id:
        raise FailedPrecondition(
            ErrorCode.SLOT_HOLD_CONFLICT,
            f"reference {request.reference!r} holds another delivery slot",
            metadata={"slot_id": held.slot_id},
        )
    return hold_to_proto(held)


async def release_slot(*, shipping: Shipping, reference: str) -> pb.SlotHold | None:
    """Give a held place back; a booked or released hold is left as it is; None for an unknown reference."""
    reference, bad_reference = domain.hold_reference(reference)
    if bad_reference:
        raise invalid(bad_reference)
    async with shipping.database.unit_of_work(SOURCE) as uow:
        released = await slots_store.release_hold(uow.session, reference, shipping.clock())
        if released is None:
            unchanged = await slots_store.get_hold(uow.session, reference)
            return None if unchanged is None else hold_to_proto(unchanged)
        await slots_store.give_back_slot_place(uow.session, released.slot_id)
        await uow.commit()
    return hold_to_proto(released)
