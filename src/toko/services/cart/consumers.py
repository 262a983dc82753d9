"""Event handlers of the cart service (run by ``toko.platform.consumer.EventConsumer``).

A placed checkout takes what it bought off the buyer's cart, so the cart shows what is still to buy.
"""

from __future__ import annotations

from collections import Counter

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.order.v1 import events_pb2 as order_events
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.services.cart.repository import CartRepository

ORDER_SOURCE = "order"
CHECKOUT_CONSUMER = "cart-checked-out-lines"
CHECKOUT_SUBJECTS = (event_subject(ORDER_SOURCE, order_events.CheckoutPlaced.DESCRIPTOR.name),)


class CheckedOutLines:
    """Takes a placed checkout's lines off its buyer's cart, when it was checked out from the cart.

    Only the buyer's own cart: a guest cart is merged into it at sign-in, and checking out needs a
    sign-in. The change commits with the consumer's inbox row, so it happens once per event.
    """

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Take the checkout's quantities off the cart; raising makes JetStream redeliver the event."""
        if not isinstance(payload, order_events.CheckoutPlaced):
            return
        # A checkout not made from the cart ("buy now") leaves the cart as it is, even for a SKU in it.
        if not payload.cart_id:
            return
        bought: Counter[str] = Counter()
        for shop in payload.checkout.quote.shops:
            for line in shop.lines:
                bought[line.sku_id] += line.quantity
        repository = CartRepository(uow.session)
        cart_id = await repository.buyer_cart_id(payload.checkout.buyer_id)
        if cart_id is not None:
            await repository.take_out(cart_id, dict(bought))
