"""Conversions between the service's protobuf messages and its domain objects."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money
from toko.services.shipping import domain
from toko.shipping.v1 import shipping_pb2 as pb


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def money(amount: int, currency: str = domain.CURRENCY) -> Money:
    """An amount on the wire."""
    return Money(amount=amount, currency=currency)


def courier_to_proto(courier: domain.Courier) -> pb.Courier:
    """A courier and its services on the wire."""
    return pb.Courier(
        code=courier.code,
        name=courier.name,
        services=[
            pb.CourierService(
                code=service.code,
                name=service.name,
                level=pb.ServiceLevel.ValueType(service.level),
                cod_supported=service.cod_supported,
                slotted=service.slotted,
            )
            for service in courier.services
        ],
    )


def place_from_proto(place: pb.Place) -> domain.Place:
    """A place off the wire (not yet checked)."""
    return domain.Place(
        province=place.province, city=place.city, district=place.district, postal_code=place.postal_code
    )


def place_to_proto(place: domain.Place) -> pb.Place:
    """A place on the wire."""
    return pb.Place(
        province=place.province, city=place.city, district=place.district, postal_code=place.postal_code
    )


def item_from_proto(item: pb.ParcelItem) -> domain.Item:
    """A parcel line off the wire (not yet checked); no currency means IDR."""
    return domain.Item(
        weight_grams=item.weight_grams,
        length_mm=item.length_mm,
        width_mm=item.width_mm,
        height_mm=item.height_mm,
        quantity=item.quantity,
        unit_value=item.unit_value.amount,
        currency=item.unit_value.currency or domain.CURRENCY,
    )


def rate_to_proto(rate: domain.Rate) -> pb.ShippingRate:
    """A quoted rate on the wire."""
    return pb.ShippingRate(
        id=rate.id,
        courier=rate.courier,
        service=rate.service,
        service_name=rate.service_name,
        level=pb.ServiceLevel.ValueType(rate.level),
        price=money(rate.price, rate.currency),
        chargeable_weight_grams=rate.chargeable_grams,
        etd_min_days=rate.etd_min_days,
        etd_max_days=rate.etd_max_days,
        cod_available=rate.cod_available,
        insurance_fee=money(rate.insurance_fee, rate.currency),
        slotted=rate.slotted,
        expire_time=timestamp(rate.expires_at),
        origin=place_to_proto(rate.origin),
        destination=place_to_proto(rate.destination),
    )


def slot_to_proto(slot: domain.Slot) -> pb.DeliverySlot:
    """A delivery slot on the wire."""
    return pb.DeliverySlot(
        id=slot.id,
        start_time=timestamp(slot.starts_at),
        end_time=timestamp(slot.ends_at),
        capacity_left=slot.capacity_left,
    )


def hold_to_proto(hold: domain.SlotHold) -> pb.SlotHold:
    """A slot hold on the wire."""
    return pb.SlotHold(
        reference=hold.reference,
        slot_id=hold.slot_id,
        state=pb.SlotHoldState.ValueType(hold.state),
        expire_time=timestamp(hold.expires_at),
    )


def contact_from_proto(contact: pb.Contact) -> domain.Contact:
    """A contact off the wire (not yet checked)."""
    return domain.Contact(
        name=contact.name, phone=contact.phone, street=contact.street, place=place_from_proto(contact.place)
    )


def shipment_to_proto(shipment: domain.Shipment) -> pb.Shipment:
    """A shipment and its tracking on the wire."""
    message = pb.Shipment(
        id=shipment.id,
        order_id=shipment.order_id,
        shop_id=shipment.shop_id,
        buyer_id=shipment.buyer_id,
        courier=shipment.courier,
        service=shipment.service,
        waybill=shipment.waybill,
        status=pb.ShipmentStatus.ValueType(shipment.status),
        tracking=[
            pb.TrackingEvent(
                status=pb.ShipmentStatus.ValueType(event.status),
                description=event.description,
                location=event.location,
                event_time=timestamp(event.event_time),
            )
            for event in shipment.tracking
        ],
        create_time=timestamp(shipment.created_at),
    )
    if shipment.slot is not None:
        message.slot.CopyFrom(slot_to_proto(shipment.slot))
    return message
