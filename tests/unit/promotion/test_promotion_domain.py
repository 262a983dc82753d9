"""Vouchers' rules without I/O: making one, when it applies, how they stack, how a discount is split."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.rules import ValidationFailed
from toko.services.promotion.domain import (
    Checkout,
    Line,
    Outcome,
    Voucher,
    VoucherDraft,
    VoucherKind,
    apply_vouchers,
    apportion,
    new_voucher,
    refusal,
)
from toko.services.promotion.error_codes import ErrorCode
from toko.services.promotion.seed import demo_drafts

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SHOP_A, SHOP_B = str(uuid.uuid4()), str(uuid.uuid4())
GADGETS = str(uuid.uuid4())


def voucher(**changes: object) -> Voucher:
    base = Voucher(
        id=str(uuid.uuid4()),
        name="Diskon",
        kind=VoucherKind.PERCENTAGE,
        start_at=NOW - timedelta(days=1),
        end_at=NOW + timedelta(days=1),
        created_at=NOW - timedelta(days=2),
        code="HEMAT10",
        percent_bp=1000,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


CHECKOUT = Checkout(
    lines=(
        Line("sku-1", SHOP_A, GADGETS, 1, 150_000),
        Line("sku-2", SHOP_A, "other", 2, 100_000),
        Line("sku-3", SHOP_B, GADGETS, 1, 50_000),
    ),
    shipping={SHOP_A: 18_000, SHOP_B: 9_000},
    payment_method="qris",
)


def apply(*requested: Voucher, automatic: tuple[Voucher, ...] = (), checkout: Checkout = CHECKOUT) -> Outcome:
    return apply_vouchers(
        checkout,
        requested=[(v.code or v.id, v) for v in requested],
        automatic=automatic,
        buyer_usages={},
        at=NOW,
    )


@given(total=st.integers(0, 10**9), weights=st.lists(st.integers(0, 10**7), min_size=1, max_size=30))
def test_apportioned_parts_add_up_exactly_and_never_exceed_their_line(total: int, weights: list[int]) -> None:
    total = min(total, sum(weights))

    parts = apportion(total, weights)

    assert len(parts) == len(weights)
    assert sum(parts) == (total if sum(weights) else 0)
    assert all(0 <= part <= weight for part, weight in zip(parts, weights, strict=True))


def test_a_remainder_goes_to_the_largest_fractions_first() -> None:
    assert apportion(10, [1, 1, 1]) == [4, 3, 3]
    assert apportion(100, [33, 33, 34]) == [33, 33, 34]
    assert apportion(7, [0, 5, 5]) == [0, 4, 3]


def test_a_percentage_voucher_is_capped_and_split_over_the_eligible_lines() -> None:
    outcome = apply(voucher(percent_bp=1000, amount=25_000))

    [result] = outcome.applied
    assert result.discount == 25_000  # 10% of 300.000 is 30.000, capped
    assert dict(result.line_parts) == {"sku-1": 12_500, "sku-2": 8_333, "sku-3": 4_167}
    assert result.explanation == "10% off Rp 300.000, capped at Rp 25.000: Rp 25.000 off"
    assert outcome.items_discount == 25_000


def test_a_shop_voucher_counts_only_its_shop_and_the_platform_voucher_takes_off_what_is_left() -> None:
    shop = voucher(shop_id=SHOP_B, kind=VoucherKind.FIXED_AMOUNT, amount=60_000, percent_bp=0, code="TOKOB")
    platform = voucher(percent_bp=5000)

    outcome = apply(platform, shop)

    by_slot = {a.voucher.slot: a for a in outcome.applied}
    assert by_slot[f"shop:{SHOP_B}"].discount == 50_000  # never more than the shop's lines cost
    assert by_slot["platform"].discount == 125_000  # half of 250.000 left after the shop voucher
    assert outcome.items_discount <= sum(line.line_total for line in CHECKOUT.lines)


def test_a_second_voucher_for_a_taken_slot_is_refused_as_not_stackable() -> None:
    first, second = voucher(code="SATU"), voucher(code="DUA")

    outcome = apply(first, second)

    assert [a.voucher.code for a in outcome.applied] == ["SATU"]
    assert [(asked, why.reason) for asked, why in outcome.refused] == [
        ("DUA", ErrorCode.VOUCHER_NOT_STACKABLE)
    ]


def test_free_shipping_pays_the_eligible_shops_shipping_up_to_its_amount() -> None:
    free = voucher(kind=VoucherKind.FREE_SHIPPING, amount=20_000, percent_bp=0, code="ONGKIR")

    [result] = apply(free).applied

    assert result.discount == 20_000
    assert dict(result.shipping_parts) == {SHOP_A: 13_333, SHOP_B: 6_667}
    assert result.line_parts == ()


@pytest.mark.parametrize(
    ("changes", "checkout_changes", "reason"),
    [
        ({"start_at": NOW + timedelta(hours=1)}, {}, ErrorCode.VOUCHER_NOT_STARTED),
        ({"end_at": NOW}, {}, ErrorCode.VOUCHER_EXPIRED),
        ({"ended_at": NOW - timedelta(minutes=1)}, {}, ErrorCode.VOUCHER_EXPIRED),
        ({"total_limit": 5, "held_count": 2, "redeemed_count": 3}, {}, ErrorCode.VOUCHER_USED_UP),
        ({"min_spend": 400_000}, {}, ErrorCode.VOUCHER_MIN_SPEND_NOT_MET),
        ({"eligible_category_ids": frozenset({str(uuid.uuid4())})}, {}, ErrorCode.VOUCHER_NOT_ELIGIBLE),
        ({"new_buyers_only": True}, {}, ErrorCode.VOUCHER_NEW_BUYERS_ONLY),
        ({"payment_methods": frozenset({"card"})}, {}, ErrorCode.VOUCHER_PAYMENT_METHOD),
        (
            {"kind": VoucherKind.FREE_SHIPPING, "amount": 10_000},
            {"shipping": {}},
            ErrorCode.VOUCHER_NOT_ELIGIBLE,
        ),
    ],
)
def test_a_voucher_that_does_not_apply_says_why(
    changes: dict[str, object], checkout_changes: dict[str, object], reason: ErrorCode
) -> None:
    why = refusal(voucher(**changes), replace(CHECKOUT, **checkout_changes), at=NOW, buyer_usages=0)  # type: ignore[arg-type]

    assert why is not None
    assert why.reason is reason


def test_a_buyer_at_the_per_buyer_limit_is_refused_and_the_min_spend_counts_eligible_lines_only() -> None:
    limited = voucher(per_buyer_limit=1)
    gadgets_only = voucher(eligible_category_ids=frozenset({GADGETS}), min_spend=250_000)

    over_limit = refusal(limited, CHECKOUT, at=NOW, buyer_usages=1)
    short = refusal(gadgets_only, CHECKOUT, at=NOW, buyer_usages=0)

    assert over_limit is not None
    assert over_limit.reason is ErrorCode.VOUCHER_BUYER_LIMIT_REACHED
    assert short is not None
    assert short.message == "Diskon needs a spend of Rp 250.000 on eligible items (now Rp 200.000)"


def test_the_best_auto_applied_voucher_fills_an_empty_slot_and_an_asked_one_keeps_its_slot() -> None:
    small = voucher(code="", auto_apply=True, kind=VoucherKind.FIXED_AMOUNT, amount=5_000, percent_bp=0)
    large = voucher(code="", auto_apply=True, kind=VoucherKind.FIXED_AMOUNT, amount=20_000, percent_bp=0)
    asked = voucher(code="PILIHAN", kind=VoucherKind.FIXED_AMOUNT, amount=1_000, percent_bp=0)

    automatic = apply(automatic=(small, large))
    with_asked = apply(asked, automatic=(small, large))

    assert [(a.voucher.id, a.auto_applied) for a in automatic.applied] == [(large.id, True)]
    assert [a.voucher.code for a in with_asked.applied] == ["PILIHAN"]


def test_an_unknown_code_is_refused_as_not_found() -> None:
    outcome = apply_vouchers(CHECKOUT, requested=[("NGAWUR", None)], automatic=(), buyer_usages={}, at=NOW)

    assert [(asked, why.reason) for asked, why in outcome.refused] == [
        ("NGAWUR", ErrorCode.VOUCHER_NOT_FOUND)
    ]


def test_a_new_voucher_reports_every_broken_rule_at_once() -> None:
    draft = VoucherDraft(
        name="\u200b",
        kind=VoucherKind.PERCENTAGE,
        start_at=NOW + timedelta(days=2),
        end_at=NOW + timedelta(days=1),
        code="no spaces!",
        percent_bp=20_000,
        total_limit=-1,
        eligible_sku_ids=tuple(str(i) for i in range(101)),
        payment_methods=("bitcoin",),
    )

    with pytest.raises(ValidationFailed) as refused:
        new_voucher(draft, voucher_id=str(uuid.uuid4()), now=NOW)

    assert {v.field for v in refused.value.violations} == {
        "voucher.name",
        "voucher.code",
        "voucher.percent_bp",
        "voucher.end_time",
        "voucher.total_limit",
        "voucher.eligible_sku_ids",
        "voucher.payment_methods",
    }


def test_a_new_voucher_upper_cases_its_code() -> None:
    draft = VoucherDraft(
        name="Gajian",
        kind=VoucherKind.FIXED_AMOUNT,
        amount=10_000,
        start_at=NOW,
        end_at=NOW + timedelta(days=7),
        code="gajian25",
    )

    assert new_voucher(draft, voucher_id="v", now=NOW).code == "GAJIAN25"


def test_every_demo_voucher_keeps_the_rules_and_has_its_own_code() -> None:
    drafts = demo_drafts()

    made = [new_voucher(draft, voucher_id=str(uuid.uuid4()), now=NOW) for draft in drafts]

    assert len({voucher.code for voucher in made}) == len(made)
    assert {"TOKOHEMAT", "ONGKIRGRATIS", "PEMBELIBARU"} <= {voucher.code for voucher in made}
