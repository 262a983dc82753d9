"""Event handlers of the order service (run by ``toko.platform.consumer.EventConsumer``).

The payment's outcome finishes a checkout (captured: paid; failed, expired, cancelled: released and
cancelled), and shipping's ShipmentDelivered delivers an order. Each runs in the consumer's
transaction with its inbox row, so an event redelivered changes nothing twice; the calls they make to
other services are idempotent by checkout, so a handler retried after a failure is safe.
"""

from __future__ import annotations

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.payment.v1 import events_pb2 as payment_events
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.services.order.handlers import Orders
from toko.services.order.handlers.checkouts import payment_captured, payment_ended
from toko.services.order.handlers.orders import shipment_delivered
from toko.shipping.v1 import events_pb2 as shipping_events

PAYMENT_SOURCE = "payment"
SHIPPING_SOURCE = "shipping"
PAYMENT_CONSUMER = "order-payment-outcomes"
PAYMENT_SUBJECTS = tuple(
    event_subject(PAYMENT_SOURCE, message.DESCRIPTOR.name)
    for message in (
        payment_events.PaymentCaptured,
        payment_events.PaymentFailed,
        payment_events.PaymentExpired,
        payment_events.PaymentCancelled,
    )
)
DELIVERY_CONSUMER = "order-deliveries"
DELIVERY_SUBJECTS = (event_subject(SHIPPING_SOURCE, shipping_events.ShipmentDelivered.DESCRIPTOR.name),)


class PaymentOutcomes:
    """Finishes a checkout when its payment is captured, or releases it when the payment ends unpaid."""

    def __init__(self, orders: Orders) -> None:
        self._orders = orders

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Apply the payment's outcome; raising makes JetStream redeliver the event."""
        if isinstance(payload, payment_events.PaymentCaptured):
            await payment_captured(uow, self._orders, payload.payment)
        elif isinstance(payload, payment_events.PaymentFailed):
            await payment_ended(uow, self._orders, payload.payment, "PAYMENT_FAILED")
        elif isinstance(payload, payment_events.PaymentExpired):
            await payment_ended(uow, self._orders, payload.payment, "PAYMENT_EXPIRED")
        elif isinstance(payload, payment_events.PaymentCancelled):
            await payment_ended(uow, self._orders, payload.payment, "PAYMENT_CANCELLED")


class Deliveries:
    """Delivers an order when its parcel is delivered."""

    def __init__(self, orders: Orders) -> None:
        self._orders = orders

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Mark the order delivered and arm its completion."""
        if isinstance(payload, shipping_events.ShipmentDelivered):
            await shipment_delivered(uow, self._orders, payload.shipment.order_id)
