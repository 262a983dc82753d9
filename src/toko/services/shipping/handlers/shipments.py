"""Shipments: booked with the courier of their rate (once per order), shown to the people concerned."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.auth import Principal
from toko.platform.error_codes import CommonReason
from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.rules import Violation
from toko.platform.text import checked_text
from toko.platform.validation import invalid
from toko.services.shipping import domain
from toko.services.shipping.couriers.common import BookingAsk, CourierRefused, CourierUnavailable
from toko.services.shipping.error_codes import ErrorCode
from toko.services.shipping.handlers.common import SOURCE, Shipping, take_slot_place
from toko.services.shipping.mapping import shipment_to_proto, slot_to_proto
from toko.services.shipping.repository import rates as rates_store
from toko.services.shipping.repository import shipments as shipments_store
from toko.services.shipping.repository import slots as slots_store
from toko.shipping.v1 import events_pb2
from toko.shipping.v1 import shipping_pb2 as pb

E164 = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_REFERENCE_LENGTH = 64
MAX_STREET_LENGTH = 200


@dataclass(frozen=True)
class CreateShipment:
    """Book an order's parcel with the courier of the rate chosen at checkout."""

    order_id: str
    shop_id: str
    buyer_id: str
    rate_id: str
    sender: domain.Contact
    recipient: domain.Contact
    cod_amount: int
    cod_currency: str
    slot_id: str
    slot_hold_reference: str = ""


def _checked(command: CreateShipment) -> CreateShipment:
    """The command with its text cleaned, or INVALID_ARGUMENT naming every field at fault."""
    violations: list[Violation] = []
    for name in ("order_id", "shop_id", "buyer_id"):
        value = getattr(command, name)
        if not 1 <= len(value.strip()) <= MAX_REFERENCE_LENGTH:
            violations.append(
                Violation(name, f"must be 1 to {MAX_REFERENCE_LENGTH} characters", CommonReason.INVALID_ID)
            )
    if not is_id(command.rate_id):
        violations.append(Violation("rate_id", "must be a UUID", CommonReason.INVALID_ID))
    sender, bad_sender = _checked_contact(command.sender, "sender", district_required=False)
    recipient, bad_recipient = _checked_contact(command.recipient, "recipient", district_required=True)
    violations += bad_sender + bad_recipient
    if not 0 <= command.cod_amount <= domain.MAX_UNIT_VALUE:
        violations.append(
            Violation(
                "cod_amount.amount", f"must be 0 to {domain.MAX_UNIT_VALUE:,}", ErrorCode.INVALID_COD_AMOUNT
            )
        )
    if command.cod_currency not in ("", domain.CURRENCY):
        violations.append(
            Violation("cod_amount.currency", f"must be {domain.CURRENCY}", ErrorCode.INVALID_COD_AMOUNT)
        )
    if len(command.slot_id) > MAX_REFERENCE_LENGTH * 2:
        violations.append(Violation("slot_id", "is too long", ErrorCode.SLOT_NOT_FOUND))
    hold_reference, bad_hold_reference = domain.hold_reference(
        command.slot_hold_reference, "slot_hold_reference", required=False
    )
    violations += bad_hold_reference
    if violations:
        raise invalid(violations)
    return CreateShipment(
        order_id=command.order_id.strip(),
        shop_id=command.shop_id.strip(),
        buyer_id=command.buyer_id.strip(),
        rate_id=command.rate_id,
        sender=sender,
        recipient=recipient,
        cod_amount=command.cod_amount,
        cod_currency=domain.CURRENCY,
        slot_id=command.slot_id.strip(),
        slot_hold_reference=hold_reference,
    )


def _checked_contact(
    contact: domain.Contact, path: str, *, district_required: bool
) -> tuple[domain.Contact, list[Violation]]:
    name, bad_name = checked_text(contact.name, f"{path}.name", ErrorCode.INVALID_CONTACT, maximum=100)
    street, bad_street = checked_text(
        contact.street, f"{path}.street", ErrorCode.INVALID_CONTACT, maximum=MAX_STREET_LENGTH
    )
    phone = contact.phone.strip()
    bad_phone = (
        []
        if E164.fullmatch(phone)
        else [Violation(f"{path}.phone", "must be E.164, e.g. +6281234567890", ErrorCode.INVALID_CONTACT)]
    )
    place, bad_place = domain.checked_place(
        contact.place, f"{path}.place", district_required=district_required
    )
    return domain.Contact(name, phone, street, place), [*bad_name, *bad_phone, *bad_street, *bad_place]


async def create_shipment(
    *, shipping: Shipping, command: CreateShipment, principal: Principal
) -> pb.Shipment:
    """Book the order's shipment; booking the same order again returns the first shipment."""
    command = _checked(command)
    if not (principal.manages(command.shop_id) or "service" in principal.roles):
        raise PermissionDenied(CommonReason.NOT_SHOP_OWNER, "only the shop's seller may ship its orders")
    shipment, booking = await _record(shipping, command)
    if shipment.booked:
        return shipment_to_proto(shipment)
    api = shipping.couriers[shipment.courier]
    try:
        waybill = await api.book(booking)
    except CourierRefused as exc:
        raise FailedPrecondition(
            ErrorCode.COURIER_REFUSED, f"the courier refused the booking: {exc}"
        ) from exc
    except CourierUnavailable as exc:
        raise Unavailable(ErrorCode.COURIER_UNAVAILABLE, "the courier did not answer; retry") from exc
    async with shipping.database.unit_of_work(SOURCE) as uow:
        if await shipments_store.set_waybill(uow.session, shipment.id, waybill):
            booked = await shipments_store.get_shipment(uow.session, shipment_id=shipment.id)
            assert booked is not None
            uow.publish(events_pb2.ShipmentBooked(shipment=shipment_to_proto(booked)), subject=shipment.id)
        await uow.commit()
        final = await shipments_store.get_shipment(uow.session, shipment_id=shipment.id)
    assert final is not None
    return shipment_to_proto(final)


async def _record(shipping: Shipping, command: CreateShipment) -> tuple[domain.Shipment, BookingAsk]:
    """The order's shipment, recorded now (its slot's place taken) unless it was before, and its booking."""
    async with shipping.database.unit_of_work(SOURCE) as uow:
        existing = await shipments_store.get_shipment(uow.session, order_id=command.order_id)
        if existing is None:
            rate = await rates_store.get_rate(uow.session, command.rate_id)
            if rate is None:
                raise NotFound(ErrorCode.RATE_NOT_FOUND, f"no shipping rate {command.rate_id}")
            if command.cod_amount and not rate.cod_available:
                raise FailedPrecondition(
                    ErrorCode.COD_NOT_AVAILABLE, "cash on delivery is not available for this rate"
                )
            slot = await _slot_for(uow.session, rate, command.slot_id)
            now = shipping.clock()
            shipment = domain.Shipment(
                id=new_id(),
                order_id=command.order_id,
                shop_id=command.shop_id,
                buyer_id=command.buyer_id,
                rate_id=rate.id,
                courier=rate.courier,
                service=rate.service,
                status=domain.Status.BOOKED,
                created_at=now,
                updated_at=now,
                slot=slot,
            )
            booking = BookingAsk(
                reference=shipment.id,
                service=rate.service,
                sender=command.sender,
                recipient=command.recipient,
                grams=rate.chargeable_grams,
                cod_amount=command.cod_amount,
                slot_id=slot.id if slot else "",
            )
            if await shipments_store.add_shipment(uow.session, shipment, _booking_document(booking)):
                if slot is not None and not await _book_place(
                    uow.session, slot.id, command.slot_hold_reference, now
                ):
                    raise FailedPrecondition(ErrorCode.SLOT_FULL, "the delivery slot is full; pick another")
                await uow.commit()
                return shipment, booking
        # Booked before (or by a concurrent request that got there first): that shipment it is.
    async with shipping.database.single_reads() as session:
        existing = await shipments_store.get_shipment(session, order_id=command.order_id)
        assert existing is not None
        return existing, _booking_from(await shipments_store.booking_of(session, existing.id))


async def reschedule_shipment(
    *, shipping: Shipping, shipment_id: str, slot_id: str, principal: Principal
) -> pb.Shipment:
    """Move a slotted shipment not picked up yet to another slot of its service: its buyer and admins.

    The shipment's row is locked while the courier is told, so two reschedules of one shipment queue;
    a full slot, a refusal or a courier out of reach rolls everything back (the old slot is kept). The
    courier's reschedule is idempotent, so a commit lost after it answered is mended by trying again.
    """
    require_id(shipment_id, "id")
    slot_id, bad_slot = checked_text(
        slot_id, "slot_id", ErrorCode.SLOT_NOT_FOUND, maximum=MAX_REFERENCE_LENGTH * 2
    )
    if bad_slot:
        raise invalid(bad_slot)
    subject = "" if principal.is_anonymous else principal.subject
    async with shipping.database.unit_of_work(SOURCE) as uow:
        shipment = await shipments_store.get_shipment(uow.session, shipment_id=shipment_id, lock=True)
        if shipment is None or not shipment.visible_to(
            subject=subject, manages_shop=principal.manages(shipment.shop_id), is_admin=principal.is_admin
        ):
            raise NotFound(ErrorCode.SHIPMENT_NOT_FOUND, f"no shipment {shipment_id}")
        if subject != shipment.buyer_id and not principal.is_admin:
            raise PermissionDenied(ErrorCode.NOT_THE_BUYER, "only the buyer chooses when a parcel arrives")
        previous = shipment.slot
        if previous is None:
            raise FailedPrecondition(ErrorCode.SERVICE_NOT_SLOTTED, "this shipment has no delivery slot")
        if previous.id == slot_id:
            return shipment_to_proto(shipment)
        if shipment.status is not domain.Status.BOOKED:
            raise FailedPrecondition(
                ErrorCode.ALREADY_PICKED_UP, "the courier has picked the parcel up; its slot is fixed"
            )
        slot = await slots_store.get_slot(uow.session, slot_id)
        if slot is None:
            raise NotFound(ErrorCode.SLOT_NOT_FOUND, f"no delivery slot {slot_id}")
        if (slot.courier, slot.service) != (shipment.courier, shipment.service):
            raise InvalidArgument.field(
                "slot_id", "is not a slot of this shipment's service", ErrorCode.SLOT_MISMATCH
            )
        now = shipping.clock()
        if slot.starts_at <= now:
            raise InvalidArgument.field("slot_id", "has started already", ErrorCode.SLOT_STARTED)
        # The place is the shipment's whether a hold kept it or not: it moves like any other.
        if not await take_slot_place(uow.session, slot.id, now):
            raise FailedPrecondition(ErrorCode.SLOT_FULL, "the delivery slot is full; pick another")
        await slots_store.give_back_slot_place(uow.session, previous.id)
        await shipments_store.set_slot(uow.session, shipment.id, slot.id, now)
        if shipment.booked:
            await _tell_courier(shipping, shipment, slot.id)
        moved = await shipments_store.get_shipment(uow.session, shipment_id=shipment.id)
        assert moved is not None
        uow.publish(
            events_pb2.ShipmentRescheduled(
                shipment=shipment_to_proto(moved), previous_slot=slot_to_proto(previous)
            ),
            subject=shipment.id,
        )
        await uow.commit()
    return shipment_to_proto(moved)


async def _tell_courier(shipping: Shipping, shipment: domain.Shipment, slot_id: str) -> None:
    try:
        await shipping.couriers[shipment.courier].reschedule(shipment.waybill, slot_id)
    except CourierRefused as exc:
        raise FailedPrecondition(
            ErrorCode.COURIER_REFUSED, f"the courier refused the new slot: {exc}"
        ) from exc
    except CourierUnavailable as exc:
        raise Unavailable(ErrorCode.COURIER_UNAVAILABLE, "the courier did not answer; retry") from exc


async def _book_place(session: AsyncSession, slot_id: str, hold_reference: str, now: datetime) -> bool:
    """Book the place the order's hold kept in the slot, or take a new one: False when the slot is full."""
    # Only a hold still held on this slot kept a place (expired or not: until it lapses). A booked one
    # is another order's place, so it is no reason to skip taking one: a retried CreateShipment finds
    # its shipment by order id and never gets here.
    if hold_reference and await slots_store.book_hold(session, hold_reference, slot_id, now):
        return True
    return await take_slot_place(session, slot_id, now)


async def _slot_for(session: AsyncSession, rate: domain.Rate, slot_id: str) -> domain.Slot | None:
    if not rate.slotted:
        return None
    if not slot_id:
        raise InvalidArgument.field(
            "slot_id", f"{rate.service_name} needs a delivery slot", ErrorCode.SLOT_REQUIRED
        )
    slot = await slots_store.get_slot(session, slot_id)
    if slot is None:
        raise NotFound(ErrorCode.SLOT_NOT_FOUND, f"no delivery slot {slot_id}")
    if (slot.courier, slot.service) != (rate.courier, rate.service):
        raise InvalidArgument.field(
            "slot_id", f"is not a slot of {rate.service_name}", ErrorCode.SLOT_MISMATCH
        )
    return slot


def _booking_document(booking: BookingAsk) -> dict[str, object]:
    return asdict(booking)


def _booking_from(document: dict[str, object]) -> BookingAsk:
    def contact(value: object) -> domain.Contact:
        assert isinstance(value, dict)
        return domain.Contact(value["name"], value["phone"], value["street"], domain.Place(**value["place"]))

    return BookingAsk(
        reference=str(document["reference"]),
        service=str(document["service"]),
        sender=contact(document["sender"]),
        recipient=contact(document["recipient"]),
        grams=int(str(document["grams"])),
        cod_amount=int(str(document["cod_amount"])),
        slot_id=str(document["slot_id"]),
    )


async def get_shipment(*, shipping: Shipping, shipment_id: str, principal: Principal) -> pb.Shipment:
    """A shipment for its buyer, its shop's seller and admins; NOT_FOUND for anyone else."""
    require_id(shipment_id, "id")
    async with shipping.database.sessions() as session:
        shipment = await shipments_store.get_shipment(session, shipment_id=shipment_id)
    if shipment is None or not shipment.visible_to(
        subject="" if principal.is_anonymous else principal.subject,
        manages_shop=principal.manages(shipment.shop_id),
        is_admin=principal.is_admin,
    ):
        raise NotFound(ErrorCode.SHIPMENT_NOT_FOUND, f"no shipment {shipment_id}")
    return shipment_to_proto(shipment)
