"""The cart's rules, without I/O: caps, merging a guest cart, and what a repriced line tells the buyer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.services.cart.domain import (
    MAX_LINES,
    MAX_QUANTITY,
    NOTE_MAX_LENGTH,
    CartFull,
    Line,
    Money,
    NextTier,
    NoticeKind,
    QuotedPrice,
    SkuFacts,
    by_shop,
    check_room,
    checked_note,
    merged_lines,
    priced_line,
    quantity_violations,
    rupiah,
    selected_total,
)
from toko.services.cart.error_codes import ErrorCode

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def line(sku_id: str = "sku-1", *, quantity: int = 1, position: int = 1, **fields: object) -> Line:
    values: dict[str, object] = {
        "sku_id": sku_id,
        "shop_id": "shop-1",
        "quantity": quantity,
        "note": "",
        "selected": True,
        "seen_price": Money(10_000),
        "seen_source": "base",
        "added_at": NOW,
        "position": position,
    }
    return Line(**(values | fields))  # type: ignore[arg-type]


def sku(**fields: object) -> SkuFacts:
    values: dict[str, object] = {
        "sku_id": "sku-1",
        "product_id": "product-1",
        "shop_id": "shop-1",
        "product_title": "Kaos Polos",
        "image_url": "",
        "option_values": {},
        "on_sale": True,
        "stock_known": True,
        "in_stock": True,
        "quantity_bucket": "21+",
    }
    return SkuFacts(**(values | fields))  # type: ignore[arg-type]


def quoted(
    amount: int = 10_000, source: str = "base", per_buyer_limit: int = 0, next_tier: NextTier | None = None
) -> QuotedPrice:
    return QuotedPrice(Money(amount), source, Money(10_000), per_buyer_limit, next_tier)


def kinds(priced_notices: object) -> list[NoticeKind]:
    return [notice.kind for notice in priced_notices]  # type: ignore[attr-defined]


# --- caps -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quantity", "ok"), [(0, False), (1, True), (999, True), (1000, False), (-5, False)])
def test_a_quantity_is_1_to_999(quantity: int, ok: bool) -> None:
    violations = quantity_violations(quantity, "quantity")

    assert (violations == []) is ok
    assert all(v.reason == ErrorCode.QUANTITY_OUT_OF_RANGE for v in violations)


def test_a_note_is_cleaned_may_be_empty_and_is_at_most_200_characters() -> None:
    assert checked_note("  tolong   dibungkus rapi ", "note") == ("tolong dibungkus rapi", [])
    assert checked_note("", "note") == ("", [])
    _, too_long = checked_note("x" * (NOTE_MAX_LENGTH + 1), "note")
    _, hidden = checked_note("abc\u202edef", "note")
    assert [(v.field, v.reason) for v in too_long + hidden] == [("note", ErrorCode.INVALID_NOTE)] * 2


def test_a_full_cart_takes_more_of_a_sku_it_has_but_no_new_sku() -> None:
    full = [line(f"sku-{i}", position=i) for i in range(MAX_LINES)]

    check_room(full, "sku-7")
    with pytest.raises(CartFull):
        check_room(full, "sku-new")


# --- merge ----------------------------------------------------------------------------------------------


def test_a_merge_adds_quantities_of_shared_skus_and_appends_the_guests_other_lines() -> None:
    mine = [line("a", quantity=2, position=1, note="warna hitam"), line("b", quantity=1, position=2)]
    guest = [line("c", quantity=4, position=1), line("a", quantity=3, position=2, note="cepat ya")]

    merged = merged_lines(mine, guest)

    assert [(m.sku_id, m.quantity, m.note, m.position) for m in merged] == [
        ("a", 5, "warna hitam", 1),
        ("b", 1, "", 2),
        ("c", 4, "", 3),
    ]


def test_a_merge_clamps_a_quantity_at_999_and_keeps_a_line_selected_if_either_was() -> None:
    mine = [line("a", quantity=900, selected=False)]
    guest = [line("a", quantity=200, selected=True)]

    (merged,) = merged_lines(mine, guest)

    assert (merged.quantity, merged.selected) == (MAX_QUANTITY, True)


def test_a_merge_that_would_pass_100_lines_is_refused_whole() -> None:
    mine = [line(f"mine-{i}", position=i) for i in range(MAX_LINES - 1)]
    guest = [line("mine-0"), line("guest-1", position=2), line("guest-2", position=3)]

    with pytest.raises(CartFull) as full:
        merged_lines(mine, guest)

    assert full.value.lines == MAX_LINES + 1


@given(
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, MAX_QUANTITY)),
    st.dictionaries(st.sampled_from("abcdefgh"), st.integers(1, MAX_QUANTITY)),
)
def test_a_merge_keeps_every_sku_once_with_the_capped_sum(
    mine: dict[str, int], guest: dict[str, int]
) -> None:
    merged = merged_lines(
        [line(s, quantity=q, position=i) for i, (s, q) in enumerate(mine.items())],
        [line(s, quantity=q, position=i) for i, (s, q) in enumerate(guest.items())],
    )

    assert {m.sku_id: m.quantity for m in merged} == {
        s: min(mine.get(s, 0) + guest.get(s, 0), MAX_QUANTITY) for s in mine.keys() | guest.keys()
    }
    assert len({m.position for m in merged}) == len(merged)


# --- notices --------------------------------------------------------------------------------------------


def test_an_unchanged_line_in_stock_has_no_notice_and_counts_in_the_total() -> None:
    priced = priced_line(line(quantity=3), sku(), quoted())

    assert (priced.notices, priced.purchasable, selected_total([priced])) == ((), True, 30_000)


@pytest.mark.parametrize(("now", "kind"), [(12_000, NoticeKind.PRICE_UP), (8_000, NoticeKind.PRICE_DOWN)])
def test_a_price_change_since_last_seen_is_told_with_both_prices(now: int, kind: NoticeKind) -> None:
    priced = priced_line(line(), sku(), quoted(now))

    (notice,) = priced.notices
    assert (notice.kind, notice.previous_price, notice.unit_price) == (kind, Money(10_000), Money(now))
    assert priced.purchasable


@pytest.mark.parametrize("facts", [None, sku(on_sale=False)])
def test_a_sku_gone_or_off_sale_is_unavailable_and_out_of_the_total(facts: SkuFacts | None) -> None:
    priced = priced_line(line(), facts, quoted())

    assert kinds(priced.notices) == [NoticeKind.UNAVAILABLE]
    assert (priced.purchasable, priced.price, selected_total([priced])) == (False, None, 0)


def test_a_sku_the_quote_left_out_is_unavailable() -> None:
    assert kinds(priced_line(line(), sku(), None).notices) == [NoticeKind.UNAVAILABLE]


@pytest.mark.parametrize(
    "facts", [sku(quantity_bucket="0", in_stock=False), sku(in_stock=False, quantity_bucket="")]
)
def test_out_of_stock_is_told_and_not_purchasable(facts: SkuFacts) -> None:
    priced = priced_line(line(), facts, quoted())

    assert (kinds(priced.notices), priced.purchasable) == ([NoticeKind.OUT_OF_STOCK], False)


def test_stock_never_reported_does_not_stop_a_buyer() -> None:
    priced = priced_line(line(), sku(stock_known=False, in_stock=False, quantity_bucket=""), quoted())

    assert (priced.notices, priced.purchasable) == ((), True)


def test_wanting_more_than_a_few_left_is_told_with_how_many_and_not_purchasable() -> None:
    few = sku(quantity_bucket="1-5")

    assert priced_line(line(quantity=5), few, quoted()).notices == ()
    priced = priced_line(line(quantity=6), few, quoted())
    assert [(n.kind, n.quantity) for n in priced.notices] == [(NoticeKind.FEWER_LEFT, 5)]
    assert not priced.purchasable


def test_a_quantity_over_a_running_flash_sales_limit_is_told_and_not_a_flash_sale_ended() -> None:
    seen_in_sale = line(quantity=3, seen_price=Money(7_000), seen_source="campaign")

    priced = priced_line(seen_in_sale, sku(), quoted(10_000, "base", per_buyer_limit=2))

    assert [(n.kind, n.quantity) for n in priced.notices] == [
        (NoticeKind.PRICE_UP, 0),
        (NoticeKind.OVER_PURCHASE_LIMIT, 2),
    ]
    assert priced.purchasable


def test_a_flash_sale_that_ended_is_told() -> None:
    seen_in_sale = line(seen_price=Money(7_000), seen_source="campaign")

    priced = priced_line(seen_in_sale, sku(), quoted(10_000, "base"))

    assert kinds(priced.notices) == [NoticeKind.PRICE_UP, NoticeKind.FLASH_SALE_ENDED]


def test_a_cheaper_tier_further_up_is_told_with_both_prices_and_the_line_stays_purchasable() -> None:
    priced = priced_line(line(quantity=3), sku(), quoted(next_tier=NextTier(12, Money(9_500))))

    (notice,) = priced.notices
    assert (notice.kind, notice.quantity, notice.previous_price, notice.unit_price) == (
        NoticeKind.NEXT_TIER,
        12,
        Money(10_000),
        Money(9_500),
    )
    assert notice.message == "Buy 12 or more for Rp 9.500 each."
    assert (priced.purchasable, selected_total([priced])) == (True, 30_000)


@pytest.mark.parametrize(
    ("facts", "tier_quantity"),
    [
        (sku(quantity_bucket="0", in_stock=False), 12),
        (sku(quantity_bucket="1-5"), 6),
        (sku(), MAX_QUANTITY + 1),
    ],
)
def test_a_tier_the_buyer_cannot_reach_is_not_told(facts: SkuFacts, tier_quantity: int) -> None:
    priced = priced_line(line(quantity=3), facts, quoted(next_tier=NextTier(tier_quantity, Money(9_500))))

    assert NoticeKind.NEXT_TIER not in kinds(priced.notices)


def test_a_few_left_still_hears_of_a_tier_within_them() -> None:
    priced = priced_line(
        line(quantity=2), sku(quantity_bucket="1-5"), quoted(next_tier=NextTier(5, Money(9_500)))
    )

    assert (kinds(priced.notices), priced.purchasable) == ([NoticeKind.NEXT_TIER], True)


def test_rupiah_groups_thousands_with_dots() -> None:
    assert [rupiah(a) for a in (500, 9_500, 1_250_000)] == ["500", "9.500", "1.250.000"]


def test_unselected_lines_stay_out_of_the_total_and_shops_keep_the_order_of_their_first_line() -> None:
    lines = [
        priced_line(line("a", shop_id="shop-2", position=1), sku(), quoted()),
        priced_line(line("b", shop_id="shop-1", position=2, selected=False), sku(), quoted()),
        priced_line(line("c", shop_id="shop-2", position=3, quantity=2), sku(), quoted()),
    ]

    assert selected_total(lines) == 30_000
    assert [(shop, [p.line.sku_id for p in group]) for shop, group in by_shop(lines)] == [
        ("shop-2", ["a", "c"]),
        ("shop-1", ["b"]),
    ]
