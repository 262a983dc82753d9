"""What the order service's use cases share: dependencies, moving an order, and who is asking."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from toko.order.v1 import events_pb2
from toko.order.v1 import order_pb2 as pb
from toko.payment.v1 import payment_pb2 as payments
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.errors import FailedPrecondition, NotFound
from toko.platform.ids import require_id
from toko.services.order import domain
from toko.services.order.clients import Peers
from toko.services.order.error_codes import ErrorCode
from toko.services.order.mapping import from_document, order_to_proto
from toko.services.order.repository import checkouts as checkouts_store
from toko.services.order.repository import orders as orders_store
from toko.services.order.repository import timers as timers_store
from toko.services.order.settings import OrderSettings

SOURCE = "order"


@dataclass(frozen=True)
class Orders:
    """The service's dependencies."""

    database: Database
    peers: Peers
    settings: OrderSettings
    clock: Clock = utcnow
    # Set when a timer is armed sooner than the worker's sleep, or a checkout is left stalled.
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def payment_ttl(self) -> timedelta:
        """How long a buyer has to pay."""
        return timedelta(seconds=self.settings.payment_ttl_seconds)


async def visible_order(
    session: AsyncSession, order_id: str, principal: Principal, *, lock: bool = False
) -> domain.Order:
    """The order when the caller may see it (its buyer, its shop's sellers, admins); for anyone else
    NOT_FOUND, so that nobody learns another's order exists."""
    require_id(order_id, "id")
    order = await orders_store.get_order(session, order_id, lock=lock)
    subject = "" if principal.is_anonymous else principal.subject
    if order is None or not order.visible_to(
        subject=subject, manages_shop=principal.manages(order.shop_id), is_admin=principal.is_admin
    ):
        raise NotFound(ErrorCode.ORDER_NOT_FOUND, f"no order {order_id}")
    return order


def actor_of(principal: Principal, *, shop_id: str) -> domain.Actor:
    """Whom a person acts as on an order of ``shop_id``: an admin, the shop's seller, or the buyer."""
    if principal.is_admin:
        return domain.Actor.ADMIN
    if principal.manages(shop_id):
        return domain.Actor.SELLER
    return domain.Actor.BUYER


async def move_order(
    uow: UnitOfWork,
    order: domain.Order,
    target: domain.OrderState,
    *,
    actor: domain.Actor,
    actor_id: str = "",
    reason: str,
    at: datetime,
    timer: tuple[domain.TimerAction, datetime] | None = None,
    **values: object,
) -> domain.Order:
    """Move a locked order to ``target``: checked, on its timeline, its timers replaced by ``timer``,
    the event raised."""
    try:
        domain.check_transition(order.state, target, actor)
    except domain.TransitionRefused as refused:
        raise FailedPrecondition(
            refused.reason, refused.message, metadata={"state": order.state.name}
        ) from refused
    await orders_store.move_order(uow.session, order.id, target, at, **values)
    await orders_store.add_timeline(
        uow.session,
        order.id,
        domain.TimelineEntry(state=target, actor=actor, actor_id=actor_id, reason=reason, at=at),
    )
    await timers_store.clear_timers(uow.session, order.id)
    if timer is not None:
        await timers_store.set_timer(uow.session, order.id, timer[0], timer[1])
    moved = await orders_store.get_order(uow.session, order.id)
    assert moved is not None
    uow.publish(
        events_pb2.OrderStateChanged(order=order_to_proto(moved, at), previous_state=int(order.state)),  # type: ignore[arg-type]
        subject=order.id,
    )
    return moved


async def cash_to_collect(session: AsyncSession, checkout_id: str) -> int:
    """What the courier collects for a cash-on-delivery checkout (its one order's payment); 0 otherwise."""
    checkout = await checkouts_store.get_checkout(session, checkout_id)
    if checkout is None:
        return 0
    quote = from_document(checkout.quote, pb.CheckoutQuote())
    return quote.grand_total.amount if quote.payment_method == payments.PAYMENT_METHOD_COD else 0
