"""An order's life after payment: the seller accepts and ships it, the courier delivers it, the buyer
(or the clock) completes it; anyone entitled cancels it before it ships, and a paid order cancelled is
refunded in full. Every deadline is a durable timer (``run_due_timers``).

Who may do what is the domain's ``TRANSITIONS``; who an order is visible to is checked first, so a
caller it is not visible to learns nothing (NOT_FOUND) and one who sees it but may not act is told
why (PERMISSION_DENIED).
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from toko.inventory.v1 import inventory_pb2 as inventory
from toko.order.v1 import order_pb2 as pb
from toko.payment.v1 import payment_pb2 as payments
from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import DomainError, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from toko.platform.ids import is_id
from toko.platform.rules import Violation
from toko.platform.text import checked_text
from toko.platform.validation import invalid
from toko.services.order import domain
from toko.services.order.clients import call
from toko.services.order.error_codes import ErrorCode
from toko.services.order.handlers.checkouts import (
    compensate,
    expire_checkout,
    refund_id_of,
    release_delivery_slot,
)
from toko.services.order.handlers.common import (
    SOURCE,
    Orders,
    actor_of,
    cash_to_collect,
    move_order,
    visible_order,
)
from toko.services.order.mapping import from_document, money, order_to_proto
from toko.services.order.repository import checkouts as checkouts_store
from toko.services.order.repository import orders as orders_store
from toko.services.order.repository import timers as timers_store
from toko.shipping.v1 import shipping_pb2 as shipping
from toko.user.v1 import user_pb2 as users

log = logging.getLogger("toko.order.orders")

E164 = re.compile(r"\+[1-9][0-9]{6,14}")

# What the system says on the timeline when a deadline passes.
_TIMER_REASONS = {
    domain.TimerAction.CANCEL_UNACCEPTED: "NOT_ACCEPTED_IN_TIME",
    domain.TimerAction.CANCEL_UNSHIPPED: "NOT_SHIPPED_IN_TIME",
    domain.TimerAction.COMPLETE_DELIVERED: "COMPLETED_AFTER_DELIVERY",
}


async def accept_order(*, orders: Orders, order_id: str, principal: Principal) -> pb.Order:
    """The shop's seller takes a paid order on; it must ship before its deadline."""
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        order = await visible_order(uow.session, order_id, principal, lock=True)
        actor = actor_of(principal, shop_id=order.shop_id)
        if actor is domain.Actor.BUYER:
            raise PermissionDenied(ErrorCode.NOT_THE_SELLER, "only the shop's seller accepts its orders")
        ship_by = now + timedelta(seconds=orders.settings.ship_within_seconds)
        moved = await move_order(
            uow,
            order,
            domain.OrderState.ACCEPTED,
            actor=actor,
            actor_id=principal.subject,
            reason="ACCEPTED",
            at=now,
            timer=(domain.TimerAction.CANCEL_UNSHIPPED, ship_by),
        )
        await uow.commit()
    orders.wake.set()
    return order_to_proto(moved, now)


async def ship_order(
    *, orders: Orders, order_id: str, pickup_street: str, pickup_phone: str, principal: Principal
) -> pb.Order:
    """Book the accepted order's parcel with its courier (idempotent by order), then mark it shipped."""
    street, violations = checked_text(pickup_street, "pickup_street", ErrorCode.INVALID_PICKUP, maximum=200)
    phone = pickup_phone.strip()
    if not E164.fullmatch(phone):
        violations = [
            *violations,
            Violation("pickup_phone", "must be E.164, e.g. +6281234567890", ErrorCode.INVALID_PICKUP),
        ]
    if violations:
        raise invalid(violations)
    async with orders.database.unit_of_work(SOURCE) as uow:
        order = await visible_order(uow.session, order_id, principal, lock=True)
        actor = actor_of(principal, shop_id=order.shop_id)
    if actor is domain.Actor.BUYER:
        raise PermissionDenied(ErrorCode.NOT_THE_SELLER, "only the shop's seller ships its orders")
    try:
        domain.check_transition(order.state, domain.OrderState.SHIPPED, actor)
    except domain.TransitionRefused as refused:
        raise FailedPrecondition(
            refused.reason, refused.message, metadata={"state": order.state.name}
        ) from refused
    details = from_document(order.details, pb.ShopQuote())
    address = from_document(order.address, pb.DeliveryAddress())
    async with orders.database.sessions() as session:
        cash = await cash_to_collect(session, order.checkout_id)
    peers = orders.peers
    shop = await call(
        "shops", peers.users.GetShop(users.GetShopRequest(shop_id=order.shop_id), timeout=peers.timeout)
    )
    booked = await call(
        "shipping",
        peers.shipping.CreateShipment(
            shipping.CreateShipmentRequest(
                order_id=order.id,
                shop_id=order.shop_id,
                buyer_id=order.buyer_id,
                rate_id=details.rate_id,
                sender=shipping.Contact(
                    name=shop.shop.name,
                    phone=phone,
                    street=street,
                    place=shipping.Place(city=shop.shop.origin_city),
                ),
                recipient=shipping.Contact(
                    name=address.recipient_name,
                    phone=address.phone,
                    street=address.street,
                    place=shipping.Place(
                        province=address.province,
                        city=address.city,
                        district=address.district,
                        postal_code=address.postal_code,
                    ),
                ),
                slot_id=details.slot_id,
                # The place held for it at checkout is the one it takes.
                slot_hold_reference=domain.slot_hold_reference(order.checkout_id, order.shop_id)
                if details.slot_id
                else "",
                cod_amount=money(cash),
            ),
            metadata=await peers.as_service(),
            timeout=peers.timeout,
        ),
    )
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        locked = await orders_store.get_order(uow.session, order.id, lock=True)
        assert locked is not None
        if locked.state is domain.OrderState.ACCEPTED:
            locked = await move_order(
                uow,
                locked,
                domain.OrderState.SHIPPED,
                actor=actor,
                actor_id=principal.subject,
                reason="SHIPPED",
                at=now,
                shipment_id=booked.shipment.id,
                waybill=booked.shipment.waybill,
            )
        await uow.commit()
    return order_to_proto(locked, now)


async def cancel_order(*, orders: Orders, order_id: str, reason: str, principal: Principal) -> pb.Order:
    """Cancel an order as its buyer (before the seller accepts), its seller (with a reason) or an admin."""
    text = reason.strip()
    async with orders.database.sessions() as session:
        order = await visible_order(session, order_id, principal)
    actor = actor_of(principal, shop_id=order.shop_id)
    if len(text) > domain.MAX_REASON_LENGTH:
        raise InvalidArgument.field(
            "reason", f"at most {domain.MAX_REASON_LENGTH} characters", ErrorCode.CANCEL_REASON_REQUIRED
        )
    if actor is domain.Actor.SELLER and not text:
        raise InvalidArgument.field("reason", "a seller says why", ErrorCode.CANCEL_REASON_REQUIRED)
    try:
        domain.check_transition(order.state, domain.OrderState.CANCELLED, actor)
    except domain.TransitionRefused as refused:
        raise FailedPrecondition(
            refused.reason, refused.message, metadata={"state": order.state.name}
        ) from refused
    if order.state is domain.OrderState.AWAITING_PAYMENT:
        # Unpaid, an order is cancelled with its whole checkout: one payment covers them all.
        await expire_checkout_now(orders, order.checkout_id, text or "CANCELLED_BY_BUYER")
        async with orders.database.sessions() as session:
            cancelled = await orders_store.get_order(session, order.id)
        assert cancelled is not None
        return order_to_proto(cancelled, orders.clock())
    moved = await cancel_paid_order(
        orders, order.id, actor=actor, actor_id=principal.subject, reason=text or "CANCELLED_BY_BUYER"
    )
    return order_to_proto(moved, orders.clock())


async def expire_checkout_now(orders: Orders, checkout_id: str, reason: str) -> None:
    """Cancel an unpaid checkout on a person's word (its payment first: one paid meanwhile wins)."""
    async with orders.database.sessions() as session:
        checkout = await checkouts_store.get_checkout(session, checkout_id)
    if checkout is None or checkout.state is not domain.CheckoutState.AWAITING_PAYMENT:
        raise FailedPrecondition(
            ErrorCode.ORDER_NOT_CANCELLABLE, "the checkout is no longer awaiting payment"
        )
    await compensate(orders, checkout, reason)


async def cancel_paid_order(
    orders: Orders, order_id: str, *, actor: domain.Actor, actor_id: str, reason: str
) -> domain.Order:
    """Refund a paid order in full (once: the refund id is the order's), put its units back on the
    shelf (once: the return is the order's), then cancel it."""
    async with orders.database.sessions() as session:
        order = await orders_store.get_order(session, order_id)
        cash = await cash_to_collect(session, order.checkout_id) if order is not None else 0
    assert order is not None
    if order.payment_id and cash:
        # Nothing was collected yet: the cash-on-delivery payment is cancelled, not refunded.
        await call(
            "payments",
            orders.peers.payments.CancelPayment(
                payments.CancelPaymentRequest(
                    id=order.payment_id, reason=(reason or "order cancelled")[:200]
                ),
                metadata=await orders.peers.as_service(),
                timeout=orders.peers.timeout,
            ),
        )
    elif order.payment_id and order.total > 0:
        await call(
            "payments",
            orders.peers.payments.RefundPayment(
                payments.RefundPaymentRequest(
                    payment_id=order.payment_id,
                    refund_id=refund_id_of(f"order:{order.id}"),
                    amount=money(order.total),
                    reason=(reason or "order cancelled")[:200],
                ),
                metadata=await orders.peers.as_service(),
                timeout=orders.peers.timeout,
            ),
        )
    # It never left the shop: its units go back on the shelf they were sold from (once per order). An
    # outage is retried by the caller; a refusal (nothing sold to return) must not stop the cancellation.
    details = from_document(order.details, pb.ShopQuote())
    try:
        await call(
            "inventory",
            orders.peers.inventory.ReturnReservedStock(
                inventory.ReturnReservedStockRequest(
                    reference=order.checkout_id,
                    return_reference=f"order:{order.id}",
                    lines=[
                        inventory.ReservationLine(sku_id=line.sku_id, quantity=line.quantity)
                        for line in details.lines
                    ],
                ),
                metadata=await orders.peers.as_service(),
                timeout=orders.peers.timeout,
            ),
        )
    except (FailedPrecondition, NotFound, InvalidArgument) as refused:
        log.warning("order %s cancelled without its stock put back: %s", order.id, refused)
    if details.slot_id:
        await release_delivery_slot(orders, domain.slot_hold_reference(order.checkout_id, order.shop_id))
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        locked = await orders_store.get_order(uow.session, order_id, lock=True)
        assert locked is not None
        if locked.state is not domain.OrderState.CANCELLED:
            locked = await move_order(
                uow,
                locked,
                domain.OrderState.CANCELLED,
                actor=actor,
                actor_id=actor_id,
                reason=reason,
                at=now,
                refunded=order.total if order.payment_id else 0,
            )
        await uow.commit()
    return locked


async def complete_order(*, orders: Orders, order_id: str, principal: Principal) -> pb.Order:
    """The buyer confirms a delivered order, before it completes by itself."""
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        order = await visible_order(uow.session, order_id, principal, lock=True)
        actor = actor_of(principal, shop_id=order.shop_id)
        if actor is domain.Actor.SELLER and principal.subject != order.buyer_id:
            raise PermissionDenied(ErrorCode.NOT_THE_BUYER, "only the buyer confirms an order arrived")
        moved = await move_order(
            uow,
            order,
            domain.OrderState.COMPLETED,
            actor=domain.Actor.BUYER if principal.subject == order.buyer_id else actor,
            actor_id=principal.subject,
            reason="CONFIRMED_BY_BUYER",
            at=now,
        )
        await uow.commit()
    return order_to_proto(moved, now)


async def shipment_delivered(uow: UnitOfWork, orders: Orders, order_id: str) -> None:
    """The courier delivered the order's parcel (shipping's ShipmentDelivered)."""
    if not is_id(order_id):
        return
    order = await orders_store.get_order(uow.session, order_id, lock=True)
    if order is None or order.state is not domain.OrderState.SHIPPED:
        return
    if order.payment_id and await cash_to_collect(uow.session, order.checkout_id):
        # The courier collected the cash: the payment is captured (once, however often this runs).
        await call(
            "payments",
            orders.peers.payments.SettleCashOnDelivery(
                payments.SettleCashOnDeliveryRequest(payment_id=order.payment_id, reference=order.waybill),
                metadata=await orders.peers.as_service(),
                timeout=orders.peers.timeout,
            ),
        )
    now = orders.clock()
    await move_order(
        uow,
        order,
        domain.OrderState.DELIVERED,
        actor=domain.Actor.SYSTEM,
        reason="DELIVERED",
        at=now,
        timer=(
            domain.TimerAction.COMPLETE_DELIVERED,
            now + timedelta(seconds=orders.settings.complete_after_seconds),
        ),
    )
    orders.wake.set()


async def run_due_timers(orders: Orders, limit: int) -> int:
    """Act on the timers that are due (a batch, claimed so replicas share them); how many went off."""
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        due = await timers_store.claim_due(uow.session, now=now, limit=limit)
        # Disarmed as they are taken: an action that fails is logged, and its next chance is the
        # event that would have made it moot, or an operator; never a loop of retries every second.
        for timer_id, _, _ in due:
            await timers_store.delete_timer(uow.session, timer_id)
        await uow.commit()
    for _, subject_id, action in due:
        try:
            await _go_off(orders, subject_id, action)
        except DomainError as failed:
            log.warning("timer %s of %s failed: %s", action.value, subject_id, failed)
            if failed.code.name == "UNAVAILABLE":
                async with orders.database.unit_of_work(SOURCE) as uow:
                    await timers_store.set_timer(uow.session, subject_id, action, now + timedelta(minutes=1))
                    await uow.commit()
    return len(due)


async def _go_off(orders: Orders, subject_id: str, action: domain.TimerAction) -> None:
    if action is domain.TimerAction.EXPIRE_CHECKOUT:
        await expire_checkout(orders, subject_id)
        return
    reason = _TIMER_REASONS[action]
    if action is domain.TimerAction.COMPLETE_DELIVERED:
        now = orders.clock()
        async with orders.database.unit_of_work(SOURCE) as uow:
            order = await orders_store.get_order(uow.session, subject_id, lock=True)
            if order is not None and order.state is domain.OrderState.DELIVERED:
                await move_order(
                    uow, order, domain.OrderState.COMPLETED, actor=domain.Actor.SYSTEM, reason=reason, at=now
                )
            await uow.commit()
        return
    async with orders.database.sessions() as session:
        order = await orders_store.get_order(session, subject_id)
    if order is not None and order.state in (domain.OrderState.PAID, domain.OrderState.ACCEPTED):
        await cancel_paid_order(orders, order.id, actor=domain.Actor.SYSTEM, actor_id="", reason=reason)


async def seconds_until_next_timer(orders: Orders) -> float | None:
    """When the next timer is due, in seconds from now."""
    async with orders.database.sessions() as session:
        due = await timers_store.next_due(session)
    if due is None:
        return None
    return max(0.0, (due - orders.clock()).total_seconds())
