"""Pricing rules, with hypothesis: precedence, tiers, bounds, rounding, dynamic rules and quote expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from toko.services.product.domain import pricing
from toko.services.product.domain.pricing import (
    Bounds,
    CampaignPrice,
    DynamicRule,
    PriceSource,
    PricingFacts,
    RuleKind,
    ScheduledPrice,
    Tier,
    Window,
)
from toko.services.product.error_codes import ErrorCode

T0 = datetime(2025, 12, 12, 12, 0, tzinfo=UTC)
prices = st.integers(min_value=1_000, max_value=10_000_000)
quantities = st.integers(min_value=1, max_value=pricing.MAX_QUANTITY)
offsets = st.integers(min_value=-3_600, max_value=3_600)


def window(start: int, length: int) -> Window:
    return Window(T0 + timedelta(seconds=start), T0 + timedelta(seconds=start + length))


@st.composite
def tier_lists(draw: st.DrawFn, base: int) -> tuple[Tier, ...]:
    count = draw(st.integers(min_value=0, max_value=pricing.MAX_TIERS))
    quantities_ = sorted(draw(st.sets(st.integers(2, 1_000), min_size=count, max_size=count)))
    tier_prices = sorted(
        draw(st.sets(st.integers(1, base - 1), min_size=count, max_size=count)), reverse=True
    )
    return tuple(Tier(q, p) for q, p in zip(quantities_, tier_prices, strict=True))


@st.composite
def facts(draw: st.DrawFn) -> PricingFacts:
    base = draw(prices)
    campaigns: tuple[CampaignPrice, ...] = ()
    if draw(st.booleans()):
        campaigns = (
            CampaignPrice(
                "c", draw(st.integers(1, base - 1)), window(draw(offsets), 1_800), draw(st.integers(1, 5))
            ),
        )
    schedules: tuple[ScheduledPrice, ...] = ()
    if draw(st.booleans()):
        schedules = (ScheduledPrice("s", draw(prices), window(draw(offsets), 1_800)),)
    dynamic = draw(st.none() | prices)
    return PricingFacts(
        base=base,
        dynamic=dynamic,
        dynamic_rule_id="r" if dynamic is not None else None,
        tiers=draw(tier_lists(base)),
        schedules=schedules,
        campaigns=campaigns,
    )


@given(facts(), quantities, offsets)
def test_precedence_is_campaign_then_schedule_then_tier_then_dynamic_then_base(
    facts_: PricingFacts, quantity: int, offset: int
) -> None:
    at = T0 + timedelta(seconds=offset)
    resolved = pricing.resolve(facts_, at=at, quantity=quantity)

    campaign = next((c for c in facts_.campaigns if c.window.contains(at)), None)
    schedule = next((s for s in facts_.schedules if s.window.contains(at)), None)
    regular = facts_.dynamic if facts_.dynamic is not None else facts_.base
    tier = pricing.tier_for(facts_.tiers, quantity)
    if campaign is not None and quantity <= campaign.per_buyer_limit:
        expected = (campaign.price, PriceSource.CAMPAIGN)
    elif schedule is not None:
        expected = (schedule.price, PriceSource.SCHEDULE)
    elif tier is not None and tier.unit_price < regular:
        expected = (tier.unit_price, PriceSource.TIER)
    elif facts_.dynamic is not None:
        expected = (facts_.dynamic, PriceSource.DYNAMIC)
    else:
        expected = (facts_.base, PriceSource.BASE)
    assert (resolved.unit_price, resolved.source) == expected
    assert resolved.total(quantity) == resolved.unit_price * quantity


@given(facts(), quantities, offsets)
def test_without_the_campaign_a_line_pays_what_it_would_if_no_campaign_ran(
    facts_: PricingFacts, quantity: int, offset: int
) -> None:
    at = T0 + timedelta(seconds=offset)
    without = pricing.resolve(facts_, at=at, quantity=quantity, with_campaign=False)
    no_campaign = pricing.resolve(
        PricingFacts(
            base=facts_.base,
            dynamic=facts_.dynamic,
            dynamic_rule_id=facts_.dynamic_rule_id,
            tiers=facts_.tiers,
            schedules=facts_.schedules,
        ),
        at=at,
        quantity=quantity,
    )

    assert without.source is not PriceSource.CAMPAIGN
    assert (without.unit_price, without.source) == (no_campaign.unit_price, no_campaign.source)


@given(facts(), offsets)
def test_one_unit_is_never_priced_by_a_tier(facts_: PricingFacts, offset: int) -> None:
    resolved = pricing.resolve(facts_, at=T0 + timedelta(seconds=offset), quantity=1)

    assert resolved.source is not PriceSource.TIER


@given(st.data(), prices)
def test_a_larger_quantity_never_pays_a_higher_tier_price(data: st.DataObject, base: int) -> None:
    tiers = data.draw(tier_lists(base))
    small = data.draw(quantities)
    large = data.draw(st.integers(small, pricing.MAX_QUANTITY))
    plain = PricingFacts(base=base, tiers=tiers)

    assert pricing.check_tiers(tiers, base) == []
    assert (
        pricing.resolve(plain, at=T0, quantity=large).unit_price
        <= pricing.resolve(plain, at=T0, quantity=small).unit_price
    )


def test_tiers_that_do_not_decrease_are_refused() -> None:
    rising = pricing.check_tiers((Tier(3, 9_000), Tier(6, 9_500)), 10_000)
    at_base = pricing.check_tiers((Tier(3, 10_000),), 10_000)
    unordered = pricing.check_tiers((Tier(6, 9_000), Tier(3, 8_000)), 10_000)
    too_many = pricing.check_tiers(tuple(Tier(q, 10_000 - q * 100) for q in range(2, 8)), 10_000)
    single = pricing.check_tiers((Tier(1, 9_000),), 10_000)

    for problems in (rising, at_base, unordered, too_many, single):
        assert problems
        assert {v.reason for v in problems} == {ErrorCode.INVALID_TIER}


@given(st.integers(min_value=0, max_value=10**12))
def test_rounding_goes_to_the_nearest_hundred_halves_up(amount: int) -> None:
    rounded = pricing.round_to_step(amount)

    assert rounded % 100 == 0
    assert abs(rounded - amount) <= 50
    assert pricing.round_to_step(150) == 200
    assert pricing.round_to_step(149) == 100


@given(st.integers(1, 10**9), st.integers(1, 10**8), st.integers(0, 10**8))
def test_clamping_always_lands_within_bounds_on_a_hundred_where_one_fits(
    amount: int, floor: int, spread: int
) -> None:
    bounds = Bounds(floor, floor + spread)

    result = pricing.clamp_rounded(amount, bounds)

    assert floor <= result <= floor + spread
    hundred_fits = (floor + spread) // 100 * 100 >= floor
    if hundred_fits:
        assert result % 100 == 0


RULES = (
    DynamicRule("lower", RuleKind.LOWER_WHEN_OVERSTOCKED, 10, 60),
    DynamicRule("raise", RuleKind.RAISE_WHEN_LOW_STOCK, 15, 7),
)


@given(
    base=st.integers(10_000, 1_000_000),
    available=st.integers(0, 100_000),
    sold_milli=st.integers(0, 10_000_000),
    floor_off=st.integers(0, 5_000),
    ceiling_off=st.integers(0, 500_000),
)
def test_dynamic_rules_follow_days_of_cover_and_stay_within_bounds(
    base: int, available: int, sold_milli: int, floor_off: int, ceiling_off: int
) -> None:
    bounds = Bounds(base - floor_off, base + ceiling_off)

    price, rule = pricing.evaluate_dynamic(
        base=base, bounds=bounds, rules=RULES, available=available, daily_sales_milli=sold_milli
    )

    # Days of cover = available / (sold_milli / 1000), compared exactly.
    cover = Fraction(available * 1000, sold_milli) if sold_milli else None
    overstocked = available > 0 if cover is None else cover > 60
    low = available <= 0 if cover is None else cover < 7
    if overstocked:
        assert rule == "lower"
        assert price == pricing.clamp_rounded(Fraction(base * 90, 100), bounds)
    elif low:
        assert rule == "raise"
        assert price == pricing.clamp_rounded(Fraction(base * 115, 100), bounds)
    else:
        assert (price, rule) == (None, None)
    if price is not None:
        assert bounds.floor is not None
        assert bounds.ceiling is not None
        assert bounds.floor <= price <= bounds.ceiling


def test_dynamic_rules_need_both_bounds_and_a_signal() -> None:
    no_bounds = pricing.evaluate_dynamic(
        base=50_000, bounds=Bounds(), rules=RULES, available=10_000, daily_sales_milli=1_000
    )
    no_signal = pricing.evaluate_dynamic(
        base=50_000, bounds=Bounds(40_000, 60_000), rules=RULES, available=None, daily_sales_milli=0
    )

    assert no_bounds == no_signal == (None, None)
    assert {v.reason for v in pricing.check_rules(RULES, Bounds())} == {ErrorCode.DYNAMIC_BOUNDS_REQUIRED}
    clashing = (
        DynamicRule("a", RuleKind.LOWER_WHEN_OVERSTOCKED, 10, 5),
        DynamicRule("b", RuleKind.RAISE_WHEN_LOW_STOCK, 10, 7),
    )
    assert {v.reason for v in pricing.check_rules(clashing, Bounds(1, 2))} == {ErrorCode.INVALID_DYNAMIC_RULE}


@given(
    offset=offsets,
    ttl=st.integers(1, 3_600),
    starts=st.lists(st.integers(-7_200, 7_200), max_size=6),
    lengths=st.lists(st.integers(1, 7_200), min_size=6, max_size=6),
)
def test_a_quote_expires_at_the_earliest_boundary_after_it_or_its_ttl(
    offset: int, ttl: int, starts: list[int], lengths: list[int]
) -> None:
    at = T0 + timedelta(seconds=offset)
    windows = [window(s, n) for s, n in zip(starts, lengths, strict=False)]
    boundaries = [instant for w in windows for instant in (w.start, w.end)]

    expiry = pricing.quote_expiry(at, timedelta(seconds=ttl), boundaries)

    assert at < expiry <= at + timedelta(seconds=ttl)
    assert all(not (at < b < expiry) for b in boundaries)
    assert expiry == at + timedelta(seconds=ttl) or expiry in boundaries


def test_windows_are_half_open() -> None:
    morning, afternoon = window(0, 3_600), window(3_600, 3_600)

    assert not morning.overlaps(afternoon)
    assert not morning.contains(morning.end)
    assert afternoon.contains(afternoon.start)


def test_bounds_must_hold_the_base_price() -> None:
    below = pricing.check_bounds(Bounds(60_000, 90_000), 50_000)
    above = pricing.check_bounds(Bounds(10_000, 40_000), 50_000)

    assert [v.reason for v in below] == [ErrorCode.PRICE_BELOW_FLOOR]
    assert [v.reason for v in above] == [ErrorCode.PRICE_ABOVE_CEILING]
    assert [v.reason for v in pricing.check_within_bounds(9_999, Bounds(10_000, None), "p")] == [
        ErrorCode.PRICE_BELOW_FLOOR
    ]


def test_the_lowest_30_day_price_is_the_current_one_without_history() -> None:
    assert pricing.lowest_price(None, [], 45_000) == 45_000
    assert pricing.lowest_price(50_000, [40_000, 47_000], 45_000) == 40_000


def test_a_campaign_name_follows_the_text_rule() -> None:
    assert pricing.checked_campaign_name("  Flash   Sale 12.12 ") == ("Flash Sale 12.12", [])
    for name in ("\u200b\u200b\u200b\u200b", "\u2066Flash Sale\u2069", "Sale \u202eELAS", "ab"):
        _, problems = pricing.checked_campaign_name(name)
        assert [(v.field, v.reason) for v in problems] == [("name", ErrorCode.INVALID_CAMPAIGN_NAME)]


# --- the next tier ------------------------------------------------------------------------------------------


@given(facts(), quantities, offsets, st.booleans())
def test_the_next_tier_is_the_first_above_the_quantity_that_would_charge_less(
    facts_: PricingFacts, quantity: int, offset: int, with_campaign: bool
) -> None:
    at = T0 + timedelta(seconds=offset)

    def charged(units: int) -> pricing.Resolved:
        return pricing.resolve(facts_, at=at, quantity=units, with_campaign=with_campaign)

    found = pricing.next_tier(facts_, at=at, quantity=quantity, with_campaign=with_campaign)

    now = charged(quantity).unit_price
    cheaper = [
        tier.min_quantity
        for tier in facts_.tiers
        if tier.min_quantity > quantity
        and charged(tier.min_quantity).source is PriceSource.TIER
        and charged(tier.min_quantity).unit_price < now
    ]
    if not cheaper:
        assert found is None
    else:
        assert found is not None
        assert found.min_quantity == min(cheaper)
        reached = charged(found.min_quantity)
        assert (reached.unit_price, reached.source) == (found.unit_price, PriceSource.TIER)


def test_a_line_below_the_tiers_is_told_the_first_one_and_a_line_in_the_last_none() -> None:
    wholesale = PricingFacts(base=10_000, tiers=(Tier(3, 9_500), Tier(12, 9_000)))

    assert pricing.next_tier(wholesale, at=T0, quantity=1) == Tier(3, 9_500)
    assert pricing.next_tier(wholesale, at=T0, quantity=3) == Tier(12, 9_000)
    assert pricing.next_tier(wholesale, at=T0, quantity=12) is None


def test_a_tier_not_below_the_dynamic_price_is_skipped_for_the_next_one_that_is() -> None:
    lowered = PricingFacts(
        base=10_000, dynamic=9_200, dynamic_rule_id="r", tiers=(Tier(3, 9_500), Tier(6, 9_000))
    )

    assert pricing.next_tier(lowered, at=T0, quantity=1) == Tier(6, 9_000)


def test_a_running_schedule_hides_every_tier() -> None:
    scheduled = PricingFacts(
        base=10_000, tiers=(Tier(3, 9_500),), schedules=(ScheduledPrice("s", 9_900, window(-60, 600)),)
    )

    assert pricing.next_tier(scheduled, at=T0, quantity=1) is None


def test_a_tier_is_told_over_a_flash_sale_only_where_it_is_charged_and_cheaper() -> None:
    sale = CampaignPrice("c", 9_000, window(-60, 600), per_buyer_limit=5)
    deep = PricingFacts(base=10_000, tiers=(Tier(3, 9_500), Tier(10, 8_500)), campaigns=(sale,))
    shallow = PricingFacts(base=10_000, tiers=(Tier(10, 9_500),), campaigns=(sale,))

    # Within the per-buyer limit the campaign still wins; past it only a tier below 9,000 is worth telling.
    assert pricing.next_tier(deep, at=T0, quantity=2) == Tier(10, 8_500)
    assert pricing.next_tier(shallow, at=T0, quantity=2) is None
    # Without the campaign the line pays the base price, so the first tier is worth telling.
    assert pricing.next_tier(deep, at=T0, quantity=2, with_campaign=False) == Tier(3, 9_500)
