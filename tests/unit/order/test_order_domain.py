"""The order service's rules, without I/O: who moves an order where, money, deadlines, lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.ids import is_id, new_id
from toko.services.order.domain import (
    Actor,
    CheckoutFigures,
    OrderState,
    ShopFigures,
    TransitionRefused,
    check_transition,
    describe_deadline,
    line_violations,
    tax_included,
)
from toko.services.order.error_codes import ErrorCode

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
S = OrderState


@pytest.mark.parametrize(
    ("current", "target", "actor"),
    [
        (S.AWAITING_PAYMENT, S.PAID, Actor.SYSTEM),
        (S.AWAITING_PAYMENT, S.CANCELLED, Actor.BUYER),
        (S.PAID, S.ACCEPTED, Actor.SELLER),
        (S.PAID, S.CANCELLED, Actor.BUYER),
        (S.PAID, S.CANCELLED, Actor.SYSTEM),
        (S.ACCEPTED, S.SHIPPED, Actor.SELLER),
        (S.ACCEPTED, S.CANCELLED, Actor.SELLER),
        (S.SHIPPED, S.DELIVERED, Actor.SYSTEM),
        (S.DELIVERED, S.COMPLETED, Actor.BUYER),
        (S.DELIVERED, S.COMPLETED, Actor.SYSTEM),
        (S.ACCEPTED, S.SHIPPED, Actor.ADMIN),
    ],
)
def test_the_allowed_moves(current: OrderState, target: OrderState, actor: Actor) -> None:
    check_transition(current, target, actor)


@pytest.mark.parametrize(
    ("current", "target", "actor", "reason"),
    [
        # Nobody pays an order by hand: only the payment's capture does.
        (S.AWAITING_PAYMENT, S.PAID, Actor.BUYER, ErrorCode.ORDER_STATE_CONFLICT),
        (S.AWAITING_PAYMENT, S.PAID, Actor.ADMIN, ErrorCode.ORDER_STATE_CONFLICT),
        # The buyer cannot take back an order the seller accepted.
        (S.ACCEPTED, S.CANCELLED, Actor.BUYER, ErrorCode.ORDER_NOT_CANCELLABLE),
        # A shipped order is cancelled by nobody (returns are their own flow).
        (S.SHIPPED, S.CANCELLED, Actor.ADMIN, ErrorCode.ORDER_NOT_CANCELLABLE),
        (S.SHIPPED, S.CANCELLED, Actor.SELLER, ErrorCode.ORDER_NOT_CANCELLABLE),
        (S.PAID, S.SHIPPED, Actor.SELLER, ErrorCode.ORDER_STATE_CONFLICT),
        (S.PAID, S.ACCEPTED, Actor.BUYER, ErrorCode.ORDER_STATE_CONFLICT),
        (S.SHIPPED, S.DELIVERED, Actor.SELLER, ErrorCode.ORDER_STATE_CONFLICT),
        (S.DELIVERED, S.COMPLETED, Actor.SELLER, ErrorCode.ORDER_STATE_CONFLICT),
        (S.COMPLETED, S.CANCELLED, Actor.ADMIN, ErrorCode.ORDER_NOT_CANCELLABLE),
        (S.CANCELLED, S.PAID, Actor.SYSTEM, ErrorCode.ORDER_STATE_CONFLICT),
    ],
)
def test_the_refused_moves_say_why(
    current: OrderState, target: OrderState, actor: Actor, reason: ErrorCode
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        check_transition(current, target, actor)
    assert refused.value.reason is reason


def test_every_state_but_the_last_two_leads_somewhere_and_the_last_two_nowhere() -> None:
    for state in OrderState:
        onward = [t for t in OrderState for a in Actor if _allowed(state, t, a)]
        assert bool(onward) is (state not in (S.COMPLETED, S.CANCELLED)), state


def _allowed(current: OrderState, target: OrderState, actor: Actor) -> bool:
    try:
        check_transition(current, target, actor)
    except TransitionRefused:
        return False
    return True


def test_ppn_included_is_eleven_parts_of_one_hundred_and_eleven() -> None:
    assert tax_included(111_000) == 11_000
    assert tax_included(100_000) == 9_909
    assert tax_included(0) == 0


amounts = st.integers(min_value=0, max_value=50_000_000)


@given(
    st.lists(st.tuples(amounts, amounts, amounts, amounts), min_size=1, max_size=8), st.integers(0, 10_000)
)
def test_a_checkouts_totals_add_up_and_are_never_negative(
    shops: list[tuple[int, int, int, int]], service_fee: int
) -> None:
    figures = CheckoutFigures(shops=tuple(ShopFigures(*shop) for shop in shops), service_fee=service_fee)
    assert figures.grand_total == sum(shop.total for shop in figures.shops) + service_fee
    assert all(shop.total >= 0 for shop in figures.shops)
    assert (
        figures.grand_total
        == figures.items_subtotal + figures.shipping_total - figures.discount_total + service_fee
    )
    assert 0 <= tax_included(figures.grand_total) <= figures.grand_total


def test_deadlines_read_as_a_person_says_them() -> None:
    assert (
        describe_deadline("AUTO_CANCEL", NOW + timedelta(days=1, hours=3, minutes=5), NOW)
        == "auto-cancel in 1 d 3 h"
    )
    assert describe_deadline("AUTO_COMPLETE", NOW + timedelta(hours=2), NOW) == "auto-complete in 2 h"
    assert (
        describe_deadline("AUTO_CANCEL", NOW + timedelta(minutes=25, seconds=30), NOW)
        == "auto-cancel in 25 min"
    )
    assert describe_deadline("AUTO_CANCEL", NOW - timedelta(minutes=1), NOW) == "auto-cancel now"


def test_every_bad_line_is_named_at_once() -> None:
    sku = new_id()
    found = line_violations([(sku, 0, ""), (sku, 1, "x" * 201), ("nope", 1000, "")], id_ok=is_id)
    assert {(v.field, v.reason) for v in found} == {
        ("lines[0].quantity", ErrorCode.INVALID_QUANTITY),
        ("lines[1].sku_id", ErrorCode.DUPLICATE_SKU),
        ("lines[1].note", ErrorCode.NOTE_TOO_LONG),
        ("lines[2].sku_id", ErrorCode.INVALID_LINES),
        ("lines[2].quantity", ErrorCode.INVALID_QUANTITY),
    }
    assert [v.reason for v in line_violations([], id_ok=is_id)] == [ErrorCode.INVALID_LINES]
    assert line_violations([(new_id(), 999, "kado")], id_ok=is_id) == []
