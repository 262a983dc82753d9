"""Placing a checkout: the saga of DESIGN §7, its compensation, and the payment's outcome.

PlaceCheckout prices the cited quote again and refuses QUOTE_CHANGED (writing nothing) when any
figure moved. Then the checkout row is written (PLACING) and the saga takes its steps in order, each
an idempotent call keyed by the checkout id, each recorded on the row before the next:

    hold vouchers → reserve stock (all lines, one reservation) → orders → payment → AWAITING_PAYMENT

Whoever holds the row's lease drives it: the request that placed it, or, once the lease has passed
(its process died, a service was down), the saga worker (``resume_stalled``). A step refused (out of
stock, a voucher used up) runs the compensations of the steps done and the checkout ends CANCELLED
with the refusal's reason; an outage leaves it to the worker, which gives up and compensates after
``placing_give_up_seconds``. The payment's events finish it (``payment_captured``,
``payment_ended``): paid commits the stock and redeems the vouchers; failed, expired or cancelled
releases them.

An Idempotency-Key is the checkout's own: the same key and quote answer the same checkout; the same
key with another quote is 422 IDEMPOTENCY_KEY_REUSED; a retry while the first request still drives
the saga is 409 IDEMPOTENCY_KEY_IN_USE. Placing a quote again without a key is also the same checkout.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from toko.inventory.v1 import inventory_pb2 as inventory
from toko.order.v1 import events_pb2
from toko.order.v1 import order_pb2 as pb
from toko.payment.v1 import payment_pb2 as payments
from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    Conflict,
    DomainError,
    FailedPrecondition,
    NotFound,
    Unavailable,
)
from toko.platform.failpoints import crash_point
from toko.platform.idempotency import request_hash
from toko.platform.ids import is_id, new_id, require_id
from toko.promotion.v1 import promotion_pb2 as promotion
from toko.services.order import domain
from toko.services.order.clients import call
from toko.services.order.error_codes import ErrorCode
from toko.services.order.handlers.common import SOURCE, Orders, move_order
from toko.services.order.handlers.quotes import changes_between, figures_of, price_checkout, stored_request
from toko.services.order.mapping import (
    checkout_to_proto,
    document,
    from_document,
    money,
    order_to_proto,
    timestamp,
)
from toko.services.order.repository import checkouts as checkouts_store
from toko.services.order.repository import orders as orders_store
from toko.services.order.repository import timers as timers_store
from toko.shipping.v1 import shipping_pb2 as shipping

log = logging.getLogger("toko.order.checkouts")
# A held slot's place lasts at most a week at shipping: past the payment window, the seller's days to
# accept and ship come first; the checkout releases it sooner when it ends unpaid or is cancelled.
SLOT_HOLD_SECONDS = 7 * 86_400

# A checkout unpaid this long after its payment's expiry is cancelled even if the payment's own
# expiry event never came.
EXPIRY_GRACE = timedelta(minutes=5)
_REFUND_NAMESPACE = uuid.UUID("6f6b6f74-0000-4000-8000-726566756e64")


def refund_id_of(subject: str) -> str:
    """The refund id of an order's (or a late checkout's) refund: the same on every retry."""
    return str(uuid.uuid5(_REFUND_NAMESPACE, subject))


async def place_checkout(
    *, orders: Orders, quote_id: str, principal: Principal, authorization: str, idempotency_key: str
) -> pb.Checkout:
    """Turn the caller's quote into orders and a payment (see the module's docstring)."""
    require_id(quote_id, "quote_id")
    buyer_id, now = principal.subject, orders.clock()
    key = idempotency_key or None
    digest = request_hash({"quote_id": quote_id})
    async with orders.database.sessions() as session:
        existing = await checkouts_store.find_checkout(
            session, buyer_id=buyer_id, quote_id=quote_id, idempotency_key=key
        )
        stored = await checkouts_store.get_quote(session, quote_id)
    if existing is not None:
        return await _replay(orders, existing, digest)
    if stored is None or stored.buyer_id != buyer_id:
        raise NotFound(ErrorCode.QUOTE_NOT_FOUND, f"you have no quote {quote_id}")
    if stored.expires_at <= now:
        raise FailedPrecondition(ErrorCode.QUOTE_EXPIRED, "the quote expired; ask for a new one")
    old = from_document(stored.quote, pb.CheckoutQuote())
    if old.payment_method == payments.PAYMENT_METHOD_UNSPECIFIED:
        raise FailedPrecondition(
            ErrorCode.PAYMENT_METHOD_REQUIRED, "the quote names no payment method: quote again with one"
        )
    request = stored_request(stored.request)
    again = await price_checkout(
        orders=orders, request=request, buyer_id=buyer_id, authorization=authorization
    )
    if figures_of(again.quote) != figures_of(old):
        changes = changes_between(old, again.quote)
        raise FailedPrecondition(
            ErrorCode.QUOTE_CHANGED,
            "the checkout's figures changed since the quote; review them and ask for a new quote",
            metadata={
                "old_grand_total": str(old.grand_total.amount),
                "new_grand_total": str(again.quote.grand_total.amount),
                "changes": "; ".join(changes)[:1000],
            },
        )
    checkout = domain.Checkout(
        id=new_id(),
        buyer_id=buyer_id,
        quote_id=quote_id,
        state=domain.CheckoutState.PLACING,
        step=domain.SagaStep.STARTED,
        quote=stored.quote,
        address=stored.address,
        cart_id=request.cart_id,
        created_at=now,
        updated_at=now,
        expires_at=now + orders.payment_ttl,
        request_hash=digest,
        lease_until=now + timedelta(seconds=orders.settings.placing_lease_seconds),
    )
    async with orders.database.unit_of_work(SOURCE) as uow:
        inserted = await checkouts_store.add_checkout(uow.session, checkout, idempotency_key=key)
        await uow.commit()
    if not inserted:
        # A concurrent request with this quote or key got there first: answer as a retry of it.
        async with orders.database.sessions() as session:
            raced = await checkouts_store.find_checkout(
                session, buyer_id=buyer_id, quote_id=quote_id, idempotency_key=key
            )
        assert raced is not None
        return await _replay(orders, raced, digest)
    return checkout_to_proto(await drive(orders, checkout.id, in_request=True))


async def _replay(orders: Orders, existing: domain.Checkout, digest: str) -> pb.Checkout:
    if existing.request_hash != digest:
        raise FailedPrecondition(
            CommonReason.IDEMPOTENCY_KEY_REUSED, "this idempotency key was already used for another quote"
        )
    if existing.state is domain.CheckoutState.PLACING:
        async with orders.database.unit_of_work(SOURCE) as uow:
            # Its driver is gone once its lease has passed: then this retry takes the lease and drives it on.
            taken = await checkouts_store.take_lease(
                uow.session,
                existing.id,
                now=orders.clock(),
                lease=timedelta(seconds=orders.settings.placing_lease_seconds),
            )
            await uow.commit()
        if not taken:
            raise Conflict(
                CommonReason.IDEMPOTENCY_KEY_IN_USE, "this checkout is still being placed; retry in a moment"
            )
        return checkout_to_proto(await drive(orders, existing.id, in_request=True))
    if existing.state is domain.CheckoutState.CANCELLED and existing.step < domain.SagaStep.PAYMENT_CREATED:
        raise FailedPrecondition(
            ErrorCode.CHECKOUT_FAILED,
            f"this checkout could not be placed: {existing.cancel_reason}",
            metadata={"cause": existing.cancel_reason},
        )
    return checkout_to_proto(existing)


async def drive(orders: Orders, checkout_id: str, *, in_request: bool) -> domain.Checkout:
    """Take the saga's remaining steps; compensate and re-raise a refusal; leave an outage to the worker."""
    checkout: domain.Checkout | None = None
    while True:
        if checkout is None:
            async with orders.database.sessions() as session:
                checkout = await checkouts_store.get_checkout(session, checkout_id)
        assert checkout is not None
        # Each step as recorded, and the saga's end before the buyer hears of it.
        crash_point(f"order.checkout.{checkout.step.name.lower()}")
        if checkout.state is not domain.CheckoutState.PLACING:
            return checkout
        try:
            taken = await _take_step(orders, checkout)
        except Unavailable:
            if in_request:
                orders.wake.set()
                raise
            if orders.clock() - checkout.created_at < timedelta(
                seconds=orders.settings.placing_give_up_seconds
            ):
                raise
            await compensate(orders, checkout, "PLACING_TIMED_OUT")
            raise
        except DomainError as refused:
            await compensate(orders, checkout, str(refused.reason))
            raise
        # A step that only holds something moves the row's step alone: go on without reading it again.
        checkout = replace(checkout, step=taken) if taken is not None else None


async def _take_step(orders: Orders, checkout: domain.Checkout) -> domain.SagaStep | None:
    """Take the checkout's next step; the step now recorded when nothing else of the row changed."""
    peers, quote = orders.peers, from_document(checkout.quote, pb.CheckoutQuote())
    step = checkout.step
    if step is domain.SagaStep.STARTED:
        voucher_ids = [discount.voucher_id for discount in quote.discounts]
        if voucher_ids:
            await call(
                "vouchers",
                peers.promotions.HoldVoucherUsages(
                    promotion.HoldVoucherUsagesRequest(
                        checkout_id=checkout.id,
                        buyer_id=checkout.buyer_id,
                        voucher_ids=voucher_ids,
                        expire_time=timestamp(checkout.expires_at),
                    ),
                    metadata=await peers.as_service(),
                    timeout=peers.timeout,
                ),
            )
        # The delivery slots are held in the same step: each hold is idempotent by its reference.
        await _hold_delivery_slots(orders, checkout, quote)
        return await _advance(orders, checkout, domain.SagaStep.VOUCHERS_HELD)
    if step is domain.SagaStep.VOUCHERS_HELD:
        await call(
            "inventory",
            peers.inventory.Reserve(
                inventory.ReserveRequest(
                    reference=checkout.id,
                    lines=[
                        inventory.ReservationLine(
                            sku_id=line.sku_id,
                            quantity=line.quantity,
                            flash_sale_claim_id=line.flash_sale_claim_id,
                        )
                        for shop in quote.shops
                        for line in shop.lines
                    ],
                    buyer_id=checkout.buyer_id,
                    buyer_city=str(checkout.address.get("city", "")),
                    ttl_seconds=orders.settings.payment_ttl_seconds,
                ),
                metadata=await peers.as_service(),
                timeout=peers.timeout,
            ),
        )
        return await _advance(orders, checkout, domain.SagaStep.STOCK_RESERVED)
    if step is domain.SagaStep.STOCK_RESERVED:
        await _create_orders(orders, checkout, quote)
    elif step is domain.SagaStep.ORDERS_CREATED:
        created = await call(
            "payments",
            peers.payments.CreatePayment(
                payments.CreatePaymentRequest(
                    checkout_id=checkout.id,
                    buyer_id=checkout.buyer_id,
                    amount=quote.grand_total,
                    method=quote.payment_method,
                    expire_time=timestamp(checkout.expires_at),
                    description=f"toko: {len(quote.shops)} shop(s)",
                    # OVO pushes the payment to the phone of the address the parcel goes to.
                    mobile_number=str(checkout.address.get("phone", "")),
                ),
                metadata=await peers.as_service(),
                timeout=peers.timeout,
            ),
        )
        await _payment_created(orders, checkout, created.payment)
    # Orders or the payment were written: the caller reads the row again.
    return None


async def _hold_delivery_slots(orders: Orders, checkout: domain.Checkout, quote: pb.CheckoutQuote) -> None:
    """Keep a place in each slotted shop's delivery slot until its seller ships (or it is released)."""
    peers = orders.peers
    for shop in quote.shops:
        if not shop.slot_id:
            continue
        try:
            await call(
                "shipping",
                peers.shipping.HoldDeliverySlot(
                    shipping.HoldDeliverySlotRequest(
                        reference=domain.slot_hold_reference(checkout.id, shop.shop_id),
                        slot_id=shop.slot_id,
                        ttl_seconds=SLOT_HOLD_SECONDS,
                    ),
                    metadata=await peers.as_service(),
                    timeout=peers.timeout,
                ),
            )
        except (FailedPrecondition, NotFound) as refused:
            # Shipping's own reasons, said as a checkout says them (as when the quote checked the slot).
            full = refused.metadata.get("cause") == "SLOT_FULL"
            raise FailedPrecondition(
                ErrorCode.DELIVERY_SLOT_FULL if full else ErrorCode.DELIVERY_SLOT_INVALID,
                "the delivery slot is full: choose another"
                if full
                else f"the delivery slot cannot be held: {refused.message}",
                metadata={"shop_id": shop.shop_id},
            ) from refused


async def release_delivery_slot(orders: Orders, reference: str) -> None:
    """Give a held delivery slot's place back (idempotent; a hold its shipment booked stays booked)."""
    await call(
        "shipping",
        orders.peers.shipping.ReleaseDeliverySlot(
            shipping.ReleaseDeliverySlotRequest(reference=reference),
            metadata=await orders.peers.as_service(),
            timeout=orders.peers.timeout,
        ),
    )


async def _advance(
    orders: Orders, checkout: domain.Checkout, step: domain.SagaStep
) -> domain.SagaStep | None:
    """Record ``step`` done (and renew the lease); None when the row had moved on meanwhile."""
    async with orders.database.unit_of_work(SOURCE) as uow:
        moved = await checkouts_store.advance_step(
            uow.session, checkout.id, step, at=orders.clock(), lease_until=_lease(orders)
        )
        await uow.commit()
    return step if moved else None


def _lease(orders: Orders) -> datetime:
    return orders.clock() + timedelta(seconds=orders.settings.placing_lease_seconds)


async def _create_orders(orders: Orders, checkout: domain.Checkout, quote: pb.CheckoutQuote) -> None:
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        locked = await checkouts_store.get_checkout(uow.session, checkout.id, lock=True)
        if locked is None or locked.step is not domain.SagaStep.STOCK_RESERVED:
            return
        for shop in quote.shops:
            order = domain.Order(
                id=new_id(),
                checkout_id=checkout.id,
                buyer_id=checkout.buyer_id,
                shop_id=shop.shop_id,
                state=domain.OrderState.AWAITING_PAYMENT,
                details=document(shop),
                address=checkout.address,
                total=shop.total.amount,
                created_at=now,
                updated_at=now,
            )
            await orders_store.add_order(uow.session, order)
            await orders_store.add_timeline(
                uow.session,
                order.id,
                domain.TimelineEntry(
                    state=order.state,
                    actor=domain.Actor.BUYER,
                    actor_id=checkout.buyer_id,
                    reason="CHECKOUT",
                    at=now,
                ),
            )
        await checkouts_store.update_checkout(
            uow.session,
            checkout.id,
            step=domain.SagaStep.ORDERS_CREATED,
            updated_at=now,
            lease_until=_lease(orders),
        )
        await uow.commit()


async def _payment_created(orders: Orders, checkout: domain.Checkout, payment: payments.Payment) -> None:
    now = orders.clock()
    cash = payment.method == payments.PAYMENT_METHOD_COD
    if cash:
        # Cash on delivery: nothing to wait for before the sellers get their orders. Before the
        # transaction, as on capture: idempotent, and a crash here takes this step again.
        await _hand_over(orders, checkout)
    async with orders.database.unit_of_work(SOURCE) as uow:
        locked = await checkouts_store.get_checkout(uow.session, checkout.id, lock=True)
        if locked is None or locked.state is not domain.CheckoutState.PLACING:
            await uow.commit()
            return
        if cash:
            await orders_store.set_payment(uow.session, checkout.id, payment.id)
            await _mark_paid(uow, orders, locked, payment, reason="CASH_ON_DELIVERY")
            await uow.commit()
            return
        await checkouts_store.update_checkout(
            uow.session,
            checkout.id,
            step=domain.SagaStep.PAYMENT_CREATED,
            state=domain.CheckoutState.AWAITING_PAYMENT,
            payment=document(payment),
            payment_id=payment.id,
            updated_at=now,
            lease_until=None,
        )
        await orders_store.set_payment(uow.session, checkout.id, payment.id)
        await timers_store.set_timer(
            uow.session, checkout.id, domain.TimerAction.EXPIRE_CHECKOUT, checkout.expires_at + EXPIRY_GRACE
        )
        placed = await checkouts_store.get_checkout(uow.session, checkout.id)
        assert placed is not None
        uow.publish(
            events_pb2.CheckoutPlaced(checkout=checkout_to_proto(placed), cart_id=checkout.cart_id),
            subject=checkout.id,
        )
        for order in await orders_store.orders_of_checkout(uow.session, checkout.id):
            uow.publish(
                events_pb2.OrderStateChanged(order=order_to_proto(order, now)),
                subject=order.id,
            )
        await uow.commit()


async def compensate(orders: Orders, checkout: domain.Checkout, reason: str) -> None:
    """Undo what the saga did for a checkout that will not be paid, then cancel it and its orders.

    The payment is cancelled first: one captured meanwhile wins, and nothing is undone (its event
    finishes the checkout as paid).
    """
    if checkout.payment_id:
        try:
            await call(
                "payments",
                orders.peers.payments.CancelPayment(
                    payments.CancelPaymentRequest(id=checkout.payment_id, reason=reason),
                    metadata=await orders.peers.as_service(),
                    timeout=orders.peers.timeout,
                ),
            )
        except FailedPrecondition as refused:
            if refused.reason is ErrorCode.PAYMENT_ALREADY_CAPTURED:
                return
            raise
    await release_holds(orders, checkout)
    async with orders.database.unit_of_work(SOURCE) as uow:
        await cancel_checkout(uow, orders, checkout.id, reason)
        await uow.commit()


async def release_holds(orders: Orders, checkout: domain.Checkout) -> None:
    """Give the checkout's reserved stock, held vouchers and delivery slots back (each idempotent;
    nothing held is fine)."""
    peers = orders.peers
    metadata = await peers.as_service()
    # Whatever step is recorded: a process may have died after a hold was made and before its step was.
    try:
        await call(
            "inventory",
            peers.inventory.ReleaseReservation(
                inventory.ReleaseReservationRequest(reference=checkout.id),
                metadata=metadata,
                timeout=peers.timeout,
            ),
        )
    except (NotFound, FailedPrecondition) as gone:
        log.info("no reservation to release for %s: %s", checkout.id, gone.reason)
    quote = from_document(checkout.quote, pb.CheckoutQuote())
    if quote.discounts:
        try:
            await call(
                "vouchers",
                peers.promotions.ReleaseVoucherUsages(
                    promotion.ReleaseVoucherUsagesRequest(checkout_id=checkout.id),
                    metadata=metadata,
                    timeout=peers.timeout,
                ),
            )
        except (NotFound, FailedPrecondition) as gone:
            log.info("no voucher hold to release for %s: %s", checkout.id, gone.reason)
    for shop in quote.shops:
        if shop.slot_id:
            await release_delivery_slot(orders, domain.slot_hold_reference(checkout.id, shop.shop_id))


async def cancel_checkout(uow: UnitOfWork, orders: Orders, checkout_id: str, reason: str) -> None:
    """Cancel a checkout not paid and every order of it, in the caller's transaction."""
    now = orders.clock()
    locked = await checkouts_store.get_checkout(uow.session, checkout_id, lock=True)
    if locked is None or locked.state in (domain.CheckoutState.PAID, domain.CheckoutState.CANCELLED):
        return
    await checkouts_store.update_checkout(
        uow.session,
        checkout_id,
        state=domain.CheckoutState.CANCELLED,
        cancel_reason=reason,
        updated_at=now,
        lease_until=None,
    )
    await timers_store.clear_timers(uow.session, checkout_id)
    for order in await orders_store.orders_of_checkout(uow.session, checkout_id, lock=True):
        if order.state is domain.OrderState.AWAITING_PAYMENT:
            await move_order(
                uow, order, domain.OrderState.CANCELLED, actor=domain.Actor.SYSTEM, reason=reason, at=now
            )
    cancelled = await checkouts_store.get_checkout(uow.session, checkout_id)
    assert cancelled is not None
    uow.publish(events_pb2.CheckoutCancelled(checkout=checkout_to_proto(cancelled)), subject=checkout_id)


async def payment_captured(uow: UnitOfWork, orders: Orders, payment: payments.Payment) -> None:
    """The checkout's payment was captured: commit its stock, redeem its vouchers, its orders are paid."""
    if not is_id(payment.checkout_id):
        return
    locked = await checkouts_store.get_checkout(uow.session, payment.checkout_id, lock=True)
    if locked is None or locked.state is domain.CheckoutState.PAID:
        return
    if locked.state is domain.CheckoutState.CANCELLED or locked.step < domain.SagaStep.ORDERS_CREATED:
        # Paid after the checkout gave up (its stock may be gone): the money goes back.
        await _refund(
            orders, payment.id, payment.amount.amount, refund_id_of(f"late:{locked.id}"), "checkout cancelled"
        )
        return
    await _hand_over(orders, locked)
    # Stock sold, vouchers redeemed, orders not yet paid: the event comes again after a crash.
    crash_point("order.capture.stock_committed")
    await _mark_paid(uow, orders, locked, payment, reason="PAYMENT_CAPTURED")


async def _hand_over(orders: Orders, checkout: domain.Checkout) -> None:
    """Sell the checkout's reserved stock and redeem its vouchers (each idempotent by checkout)."""
    peers = orders.peers
    metadata = await peers.as_service()
    await call(
        "inventory",
        peers.inventory.CommitReservation(
            inventory.CommitReservationRequest(reference=checkout.id),
            metadata=metadata,
            timeout=peers.timeout,
        ),
    )
    quote = from_document(checkout.quote, pb.CheckoutQuote())
    if quote.discounts:
        await call(
            "vouchers",
            peers.promotions.RedeemVoucherUsages(
                promotion.RedeemVoucherUsagesRequest(checkout_id=checkout.id),
                metadata=metadata,
                timeout=peers.timeout,
            ),
        )


async def _mark_paid(
    uow: UnitOfWork, orders: Orders, locked: domain.Checkout, payment: payments.Payment, *, reason: str
) -> None:
    """The locked checkout is paid (or, cash on delivery, confirmed): its orders go to their sellers."""
    now = orders.clock()
    await checkouts_store.update_checkout(
        uow.session,
        locked.id,
        state=domain.CheckoutState.PAID,
        step=domain.SagaStep.PAYMENT_CREATED,
        payment=document(payment),
        payment_id=payment.id,
        updated_at=now,
        lease_until=None,
    )
    await timers_store.clear_timers(uow.session, locked.id)
    if locked.state is domain.CheckoutState.PLACING:
        # Paid before the request that placed it recorded the payment: say it was placed, too.
        placed = await checkouts_store.get_checkout(uow.session, locked.id)
        assert placed is not None
        uow.publish(
            events_pb2.CheckoutPlaced(checkout=checkout_to_proto(placed), cart_id=locked.cart_id),
            subject=locked.id,
        )
    accept_by = now + timedelta(seconds=orders.settings.accept_within_seconds)
    for order in await orders_store.orders_of_checkout(uow.session, locked.id, lock=True):
        if order.state is domain.OrderState.AWAITING_PAYMENT:
            await move_order(
                uow,
                order,
                domain.OrderState.PAID,
                actor=domain.Actor.SYSTEM,
                reason=reason,
                at=now,
                timer=(domain.TimerAction.CANCEL_UNACCEPTED, accept_by),
                payment_id=payment.id,
            )
    orders.wake.set()


async def payment_ended(uow: UnitOfWork, orders: Orders, payment: payments.Payment, reason: str) -> None:
    """The checkout's payment failed, expired or was cancelled: release what it held, cancel it."""
    if not is_id(payment.checkout_id):
        return
    locked = await checkouts_store.get_checkout(uow.session, payment.checkout_id, lock=True)
    if locked is None or locked.state in (domain.CheckoutState.PAID, domain.CheckoutState.CANCELLED):
        return
    await release_holds(orders, locked)
    await cancel_checkout(uow, orders, locked.id, reason)


async def expire_checkout(orders: Orders, checkout_id: str) -> None:
    """A checkout still unpaid well after its payment's expiry: cancel the payment, then compensate."""
    async with orders.database.sessions() as session:
        checkout = await checkouts_store.get_checkout(session, checkout_id)
    if checkout is None or checkout.state is not domain.CheckoutState.AWAITING_PAYMENT:
        return
    await compensate(orders, checkout, "PAYMENT_EXPIRED")


async def resume_stalled(orders: Orders, limit: int) -> int:
    """Drive on checkouts whose driver is gone (a batch of them); how many were taken."""
    now = orders.clock()
    async with orders.database.unit_of_work(SOURCE) as uow:
        ids = await checkouts_store.claim_stalled(
            uow.session, now=now, lease=timedelta(seconds=orders.settings.placing_lease_seconds), limit=limit
        )
        await uow.commit()
    for checkout_id in ids:
        try:
            await drive(orders, checkout_id, in_request=False)
        except DomainError as failed:
            log.info("checkout %s not placed yet: %s", checkout_id, failed.reason)
    return len(ids)


async def seconds_until_stalled(orders: Orders) -> float | None:
    """When the next lease of a checkout being placed runs out, in seconds from now."""
    async with orders.database.sessions() as session:
        due = await checkouts_store.next_stalled(session)
    if due is None:
        return None
    return max(0.0, (due - orders.clock()).total_seconds())


async def _refund(orders: Orders, payment_id: str, amount: int, refund_id: str, reason: str) -> None:
    if amount <= 0:
        return
    await call(
        "payments",
        orders.peers.payments.RefundPayment(
            payments.RefundPaymentRequest(
                payment_id=payment_id, refund_id=refund_id, amount=money(amount), reason=reason
            ),
            metadata=await orders.peers.as_service(),
            timeout=orders.peers.timeout,
        ),
    )
