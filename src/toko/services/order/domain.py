"""Orders and checkouts as plain Python: the states, who may move an order where, money, deadlines.

An order is one shop's part of a checkout. It starts awaiting the checkout's payment, and then::

    AWAITING_PAYMENT ─paid→ PAID ─accept→ ACCEPTED ─ship→ SHIPPED ─delivered→ DELIVERED ─→ COMPLETED
            └─────────────┴──────────┴── cancel ──→ CANCELLED

Who may take each step is ``TRANSITIONS``: the buyer cancels before the seller accepts, the seller
cancels (with a reason) before shipping, the system cancels on a missed deadline, admins do anything
a person may. Money is in integer minor units (IDR has none below the rupiah), prices include PPN.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from toko.platform.rules import Violation
from toko.services.order.error_codes import ErrorCode

MAX_LINES = 100
MAX_QUANTITY = 999
MAX_NOTE_LENGTH = 200
MAX_VOUCHERS = 10
MAX_REASON_LENGTH = 200
# PPN (VAT) is 11 % and included in every price: the tax in a total is 11/111 of it.
PPN_PERCENT = 11


class OrderState(enum.IntEnum):
    """Where an order is; the values are the contract's ``OrderState`` numbers."""

    AWAITING_PAYMENT = 1
    PAID = 2
    ACCEPTED = 3
    SHIPPED = 4
    DELIVERED = 5
    COMPLETED = 6
    CANCELLED = 7


class CheckoutState(enum.IntEnum):
    """Where a checkout's saga is; the values are the contract's ``CheckoutState`` numbers."""

    PLACING = 1
    AWAITING_PAYMENT = 2
    PAID = 3
    CANCELLED = 4


class SagaStep(enum.IntEnum):
    """The last step of the placing saga that is done, in order."""

    STARTED = 0
    VOUCHERS_HELD = 1
    STOCK_RESERVED = 2
    ORDERS_CREATED = 3
    PAYMENT_CREATED = 4


class Actor(enum.StrEnum):
    """Who moves an order."""

    BUYER = "buyer"
    SELLER = "seller"
    ADMIN = "admin"
    SYSTEM = "system"


class TimerAction(enum.StrEnum):
    """What a durable timer does when it is due."""

    # A checkout still unpaid after its payment's expiry (the payment's own expiry event is the
    # usual path; this one is the belt to those braces).
    EXPIRE_CHECKOUT = "EXPIRE_CHECKOUT"
    CANCEL_UNACCEPTED = "CANCEL_UNACCEPTED"
    CANCEL_UNSHIPPED = "CANCEL_UNSHIPPED"
    COMPLETE_DELIVERED = "COMPLETE_DELIVERED"


# What the buyer and seller see of a timer: the order's deadline.
DEADLINE_ACTIONS = {
    TimerAction.CANCEL_UNACCEPTED: "AUTO_CANCEL",
    TimerAction.CANCEL_UNSHIPPED: "AUTO_CANCEL",
    TimerAction.COMPLETE_DELIVERED: "AUTO_COMPLETE",
}

_PEOPLE = frozenset({Actor.ADMIN})
TRANSITIONS: dict[tuple[OrderState, OrderState], frozenset[Actor]] = {
    (OrderState.AWAITING_PAYMENT, OrderState.PAID): frozenset({Actor.SYSTEM}),
    (OrderState.AWAITING_PAYMENT, OrderState.CANCELLED): frozenset({Actor.BUYER, Actor.SYSTEM}) | _PEOPLE,
    (OrderState.PAID, OrderState.ACCEPTED): frozenset({Actor.SELLER}) | _PEOPLE,
    (OrderState.PAID, OrderState.CANCELLED): frozenset({Actor.BUYER, Actor.SELLER, Actor.SYSTEM}) | _PEOPLE,
    (OrderState.ACCEPTED, OrderState.SHIPPED): frozenset({Actor.SELLER}) | _PEOPLE,
    (OrderState.ACCEPTED, OrderState.CANCELLED): frozenset({Actor.SELLER, Actor.SYSTEM}) | _PEOPLE,
    (OrderState.SHIPPED, OrderState.DELIVERED): frozenset({Actor.SYSTEM}) | _PEOPLE,
    (OrderState.DELIVERED, OrderState.COMPLETED): frozenset({Actor.BUYER, Actor.SYSTEM}) | _PEOPLE,
}


class TransitionRefused(Exception):
    """An order cannot go where it was asked to, or not by this actor."""

    def __init__(self, reason: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_transition(current: OrderState, target: OrderState, actor: Actor) -> None:
    """Raise ``TransitionRefused`` unless ``actor`` may move an order from ``current`` to ``target``."""
    allowed = TRANSITIONS.get((current, target))
    if allowed is None:
        reason = (
            ErrorCode.ORDER_NOT_CANCELLABLE
            if target is OrderState.CANCELLED
            else ErrorCode.ORDER_STATE_CONFLICT
        )
        raise TransitionRefused(
            reason, f"an order {current.name.lower()} cannot become {target.name.lower()}"
        )
    if actor not in allowed:
        raise TransitionRefused(
            ErrorCode.ORDER_NOT_CANCELLABLE
            if target is OrderState.CANCELLED
            else ErrorCode.ORDER_STATE_CONFLICT,
            f"the {actor.value} cannot move an order {current.name.lower()} to {target.name.lower()}",
        )


def slot_hold_reference(checkout_id: str, shop_id: str) -> str:
    """What a checkout holds one shop's delivery slot under, at shipping (and its shipment cites)."""
    return f"{checkout_id}/{shop_id}"


def tax_included(total: int) -> int:
    """The PPN included in a total, rounded down."""
    return total * PPN_PERCENT // (100 + PPN_PERCENT)


@dataclass(frozen=True)
class ShopFigures:
    """One shop's money, in minor units."""

    items_subtotal: int
    items_discount: int
    shipping_fee: int
    shipping_discount: int

    @property
    def total(self) -> int:
        """What the buyer pays for this shop's order; never negative."""
        return max(0, self.items_subtotal - self.items_discount) + max(
            0, self.shipping_fee - self.shipping_discount
        )


@dataclass(frozen=True)
class CheckoutFigures:
    """A checkout's money: its shops' and the platform's fee."""

    shops: tuple[ShopFigures, ...]
    service_fee: int

    @property
    def items_subtotal(self) -> int:
        """Sum of the items at their prices."""
        return sum(shop.items_subtotal for shop in self.shops)

    @property
    def discount_total(self) -> int:
        """Every discount taken off, items and shipping, as far as it applied."""
        return sum(
            min(shop.items_discount, shop.items_subtotal) + min(shop.shipping_discount, shop.shipping_fee)
            for shop in self.shops
        )

    @property
    def shipping_total(self) -> int:
        """Sum of the shipping fees."""
        return sum(shop.shipping_fee for shop in self.shops)

    @property
    def grand_total(self) -> int:
        """What the buyer pays."""
        return sum(shop.total for shop in self.shops) + self.service_fee


def line_violations(
    lines: Iterable[tuple[str, int, str]], *, id_ok: Callable[[str], bool]
) -> list[Violation]:
    """What is wrong with a checkout's lines (sku id, quantity, note), every problem at once.

    ``id_ok`` tells whether a SKU id is well formed (the platform's id rule, passed in to keep the
    domain free of it).
    """
    rows = list(lines)
    violations: list[Violation] = []
    if not 1 <= len(rows) <= MAX_LINES:
        violations.append(Violation("lines", f"1 to {MAX_LINES} lines", ErrorCode.INVALID_LINES))
    seen: set[str] = set()
    for index, (sku_id, quantity, note) in enumerate(rows):
        if not id_ok(sku_id):
            violations.append(
                Violation(f"lines[{index}].sku_id", "must be a SKU id", ErrorCode.INVALID_LINES)
            )
        elif sku_id in seen:
            violations.append(Violation(f"lines[{index}].sku_id", "appears twice", ErrorCode.DUPLICATE_SKU))
        seen.add(sku_id)
        if not 1 <= quantity <= MAX_QUANTITY:
            violations.append(
                Violation(f"lines[{index}].quantity", f"1 to {MAX_QUANTITY}", ErrorCode.INVALID_QUANTITY)
            )
        if len(note) > MAX_NOTE_LENGTH:
            violations.append(
                Violation(
                    f"lines[{index}].note", f"at most {MAX_NOTE_LENGTH} characters", ErrorCode.NOTE_TOO_LONG
                )
            )
    return violations


def describe_deadline(action: str, due: datetime, now: datetime) -> str:
    """How a deadline reads to a person: "auto-cancel in 1 d 3 h", "auto-complete in 25 min"."""
    left = max(due - now, timedelta(0))
    days, rest = divmod(int(left.total_seconds()), 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes = rest // 60
    if days:
        span = f"{days} d {hours} h" if hours else f"{days} d"
    elif hours:
        span = f"{hours} h {minutes} min" if minutes else f"{hours} h"
    else:
        span = f"{max(minutes, 1)} min" if left else "now"
    verb = action.lower().replace("_", "-")
    return f"{verb} {span}" if span == "now" else f"{verb} in {span}"


@dataclass(frozen=True)
class TimelineEntry:
    """One transition of an order."""

    state: OrderState
    actor: Actor
    actor_id: str
    reason: str
    at: datetime


@dataclass(frozen=True)
class Order:
    """One shop's part of a checkout. ``details`` (lines, shipping, figures) and ``address`` are
    documents of the contract's ``ShopQuote`` and ``DeliveryAddress``, fixed at checkout."""

    id: str
    checkout_id: str
    buyer_id: str
    shop_id: str
    state: OrderState
    details: dict[str, object]
    address: dict[str, object]
    total: int
    created_at: datetime
    updated_at: datetime
    payment_id: str = ""
    shipment_id: str = ""
    waybill: str = ""
    refunded: int = 0
    timeline: tuple[TimelineEntry, ...] = ()
    deadline: tuple[TimerAction, datetime] | None = None

    def visible_to(self, *, subject: str, manages_shop: bool, is_admin: bool) -> bool:
        """Its buyer, its shop's sellers and admins see it; nobody else learns it exists."""
        return is_admin or manages_shop or (bool(subject) and subject == self.buyer_id)


@dataclass(frozen=True)
class Checkout:
    """A buyer's purchase: the quote it was placed at, where its saga is, its orders and payment."""

    id: str
    buyer_id: str
    quote_id: str
    state: CheckoutState
    step: SagaStep
    quote: dict[str, object]
    address: dict[str, object]
    cart_id: str
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    payment: dict[str, object] | None = None
    payment_id: str = ""
    cancel_reason: str = ""
    request_hash: str = ""
    lease_until: datetime | None = None
    order_ids: tuple[str, ...] = ()
