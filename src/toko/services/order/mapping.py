"""Domain objects and stored documents ⇄ protobuf messages.

A quote's and an order's figures, lines and address are stored as the JSON of their contract
messages (``CheckoutQuote``, ``ShopQuote``, ``DeliveryAddress``, the payment's ``Payment``), written
with proto field names, so what was agreed at checkout is read back exactly as it was answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.json_format import MessageToDict, ParseDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money
from toko.order.v1 import order_pb2 as pb
from toko.payment.v1 import payment_pb2
from toko.services.order import domain

CURRENCY = "IDR"
M = TypeVar("M", bound=Message)


def money(amount: int) -> Money:
    """An amount in rupiah."""
    return Money(amount=amount, currency=CURRENCY)


def timestamp(moment: datetime) -> Timestamp:
    """A protobuf timestamp of an aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def document(message: Message) -> dict[str, Any]:
    """A message as the JSON document it is stored as."""
    return MessageToDict(message, preserving_proto_field_name=True)


def from_document(doc: dict[str, Any] | Any, message: M) -> M:
    """Fill ``message`` from a stored document (unknown fields of older documents ignored)."""
    ParseDict(doc or {}, message, ignore_unknown_fields=True)
    return message


def order_to_proto(order: domain.Order, now: datetime) -> pb.Order:
    """An order as the contract shows it, with its next deadline as a person reads it."""
    message = pb.Order(
        id=order.id,
        checkout_id=order.checkout_id,
        buyer_id=order.buyer_id,
        shop_id=order.shop_id,
        state=int(order.state),  # type: ignore[arg-type]
        details=from_document(order.details, pb.ShopQuote()),
        address=from_document(order.address, pb.DeliveryAddress()),
        timeline=[
            pb.TimelineEntry(
                state=int(entry.state),  # type: ignore[arg-type]
                actor=entry.actor.value,
                actor_id=entry.actor_id,
                reason=entry.reason,
                time=timestamp(entry.at),
            )
            for entry in order.timeline
        ],
        payment_id=order.payment_id,
        shipment_id=order.shipment_id,
        waybill=order.waybill,
        refunded=money(order.refunded),
        create_time=timestamp(order.created_at),
        update_time=timestamp(order.updated_at),
    )
    if order.deadline is not None:
        action, due = order.deadline
        shown = domain.DEADLINE_ACTIONS.get(action)
        if shown is not None:
            message.deadline.CopyFrom(
                pb.Deadline(
                    action=shown,
                    due_time=timestamp(due),
                    description=domain.describe_deadline(shown, due, now),
                )
            )
    return message


def checkout_to_proto(checkout: domain.Checkout) -> pb.Checkout:
    """A checkout as the contract shows it, its payment's instructions included once it has one."""
    message = pb.Checkout(
        id=checkout.id,
        buyer_id=checkout.buyer_id,
        state=int(checkout.state),  # type: ignore[arg-type]
        quote=from_document(checkout.quote, pb.CheckoutQuote()),
        order_ids=list(checkout.order_ids),
        cancel_reason=checkout.cancel_reason,
        create_time=timestamp(checkout.created_at),
        expire_time=timestamp(checkout.expires_at),
    )
    if checkout.payment:
        message.payment.CopyFrom(from_document(checkout.payment, payment_pb2.Payment()))
    return message


def address_document(address: Any) -> dict[str, Any]:
    """The delivery address an order keeps, from the user service's ``Address``."""
    return document(
        pb.DeliveryAddress(
            address_id=address.id,
            recipient_name=address.recipient,
            phone=address.phone,
            street=address.street,
            district=address.district,
            city=address.city,
            province=address.province,
            postal_code=address.postal_code,
        )
    )
