"""Pricing rules: which price applies, quantity tiers, bounds, dynamic rules and quote expiry.

Pure Python like ``catalog`` (the same import-linter contract covers the whole ``domain`` package).
Prices are integer rupiah; percentages are whole numbers; the only division is in
exact rational arithmetic, rounded once at the end.

Precedence of a line's unit price at an instant, first match wins:

1. campaign   a flash-sale campaign whose window contains the instant, if the line's
              quantity is within the campaign's per-buyer limit (and the caller did not
              ask for the price without it: a buyer with no claim of its quota);
2. schedule   a scheduled price whose window contains the instant;
3. tier       the tier with the highest minimum quantity the line reaches, if it is
              cheaper than the dynamic or base price (wholesale never charges more);
4. dynamic    the price the SKU's dynamic rules set, within floor and ceiling;
5. base       the seller's base price.

A quoted line also names its next tier: the first tier above its quantity that, priced by the
same precedence at the tier's minimum quantity, would charge less than the line pays now.

Windows are half-open, ``[start, end)``: a window ending at noon and another
starting at noon do not overlap, and at noon the second applies.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from toko.platform.rules import Violation
from toko.platform.text import checked_text
from toko.services.product.domain.catalog import MAX_PRICE, MIN_PRICE
from toko.services.product.error_codes import ErrorCode

MAX_TIERS = 5
MIN_TIER_QUANTITY = 2
MAX_QUANTITY = 10_000
MAX_QUOTE_LINES = 100
ROUNDING_STEP = 100
LOWEST_PRICE_WINDOW = timedelta(days=30)
MAX_SCHEDULE_LENGTH = timedelta(days=366)
MAX_CAMPAIGN_LENGTH = timedelta(days=31)
CAMPAIGN_NAME_MIN_LENGTH, CAMPAIGN_NAME_MAX_LENGTH = 3, 100
MAX_CAMPAIGN_QUOTA = 1_000_000
MIN_RULE_PERCENT, MAX_RULE_PERCENT = 1, 90
MIN_RULE_DAYS, MAX_RULE_DAYS = 1, 365
# Sales rates travel as thousandths of a unit per day, so that days of cover compare without floats.
MILLI = 1000


class PriceSource(StrEnum):
    """What set a unit price."""

    BASE = "base"
    SCHEDULE = "schedule"
    CAMPAIGN = "campaign"
    TIER = "tier"
    DYNAMIC = "dynamic"


class ChangeSource(StrEnum):
    """What caused a recorded price change."""

    MANUAL = "manual"
    SCHEDULE = "schedule"
    CAMPAIGN = "campaign"
    DYNAMIC = "dynamic"
    TIER = "tier"


class RuleKind(StrEnum):
    """What a dynamic rule reacts to."""

    LOWER_WHEN_OVERSTOCKED = "lower_when_overstocked"
    RAISE_WHEN_LOW_STOCK = "raise_when_low_stock"


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time window ``[start, end)``."""

    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        """Whether ``at`` falls in the window."""
        return self.start <= at < self.end

    def overlaps(self, other: Window) -> bool:
        """Whether the two windows share an instant."""
        return self.start < other.end and other.start < self.end


@dataclass(frozen=True, slots=True)
class Tier:
    """From ``min_quantity`` units on, each unit costs ``unit_price``."""

    min_quantity: int
    unit_price: int


@dataclass(frozen=True, slots=True)
class ScheduledPrice:
    """A price in effect during a window."""

    id: str
    price: int
    window: Window


@dataclass(frozen=True, slots=True)
class CampaignPrice:
    """A SKU's price in a flash-sale campaign."""

    campaign_id: str
    price: int
    window: Window
    per_buyer_limit: int


@dataclass(frozen=True, slots=True)
class DynamicRule:
    """Lower (or raise) the base price by ``percent`` while stock covers more (fewer) than ``days``."""

    id: str
    kind: RuleKind
    percent: int
    days: int


@dataclass(frozen=True, slots=True)
class Bounds:
    """The seller's floor and ceiling; ``None`` for no bound."""

    floor: int | None = None
    ceiling: int | None = None


@dataclass(frozen=True)
class PricingFacts:
    """Everything that prices one SKU at some instant (the windows may include irrelevant ones)."""

    base: int
    dynamic: int | None = None
    dynamic_rule_id: str | None = None
    tiers: tuple[Tier, ...] = ()
    schedules: tuple[ScheduledPrice, ...] = ()
    campaigns: tuple[CampaignPrice, ...] = ()


@dataclass(frozen=True)
class Resolved:
    """The unit price of a line and what set it; ``campaign`` is the campaign in effect, applied or not."""

    unit_price: int
    source: PriceSource
    rule_id: str | None
    campaign: CampaignPrice | None = None
    window: Window | None = None

    def total(self, quantity: int) -> int:
        """The line total."""
        return self.unit_price * quantity


# --- resolution ---------------------------------------------------------------------------------------------


def resolve(facts: PricingFacts, *, at: datetime, quantity: int = 1, with_campaign: bool = True) -> Resolved:
    """The unit price of ``quantity`` units at ``at``, by the precedence in this module's docstring.

    ``with_campaign=False`` prices as if no campaign ran (a buyer holding no claim of its quota);
    the campaign is still reported, for countdowns.
    """
    campaign = next((c for c in facts.campaigns if c.window.contains(at)), None)
    if with_campaign and campaign is not None and quantity <= campaign.per_buyer_limit:
        return Resolved(campaign.price, PriceSource.CAMPAIGN, campaign.campaign_id, campaign, campaign.window)
    schedule = next((s for s in facts.schedules if s.window.contains(at)), None)
    if schedule is not None:
        return Resolved(schedule.price, PriceSource.SCHEDULE, schedule.id, campaign, schedule.window)
    if facts.dynamic is not None:
        regular = Resolved(facts.dynamic, PriceSource.DYNAMIC, facts.dynamic_rule_id, campaign)
    else:
        regular = Resolved(facts.base, PriceSource.BASE, None, campaign)
    tier = tier_for(facts.tiers, quantity)
    if tier is not None and tier.unit_price < regular.unit_price:
        return Resolved(tier.unit_price, PriceSource.TIER, None, campaign)
    return regular


def next_tier(facts: PricingFacts, *, at: datetime, quantity: int, with_campaign: bool = True) -> Tier | None:
    """The lowest-quantity tier above ``quantity`` that ``resolve`` would charge less than the line pays."""
    now = resolve(facts, at=at, quantity=quantity, with_campaign=with_campaign).unit_price
    for tier in sorted(facts.tiers, key=lambda candidate: candidate.min_quantity):
        if tier.min_quantity <= quantity:
            continue
        # Priced by the whole precedence, so a campaign, schedule or dynamic price that still wins at
        # that quantity (or is already cheaper) is never passed off as a wholesale saving.
        reached = resolve(facts, at=at, quantity=tier.min_quantity, with_campaign=with_campaign)
        if reached.source is PriceSource.TIER and reached.unit_price < now:
            return Tier(tier.min_quantity, reached.unit_price)
    return None


def tier_for(tiers: Iterable[Tier], quantity: int) -> Tier | None:
    """The tier with the highest minimum quantity that ``quantity`` reaches, if any."""
    reached = [tier for tier in tiers if tier.min_quantity <= quantity]
    return max(reached, key=lambda tier: tier.min_quantity) if reached else None


def quote_expiry(at: datetime, ttl: timedelta, boundaries: Iterable[datetime]) -> datetime:
    """When a quote made at ``at`` stops holding: after ``ttl``, or at the first boundary after ``at``."""
    return min([at + ttl, *(boundary for boundary in boundaries if boundary > at)])


def boundaries_of(facts: PricingFacts) -> list[datetime]:
    """The starts and ends of every campaign and schedule window of the facts."""
    windows = [c.window for c in facts.campaigns] + [s.window for s in facts.schedules]
    return [instant for window in windows for instant in (window.start, window.end)]


def lowest_price(price_at_window_start: int | None, prices_within: Iterable[int], current: int) -> int:
    """The lowest 30-day price: the lowest in effect before the current one, or the current one alone."""
    candidates = [p for p in (price_at_window_start, *prices_within) if p is not None]
    return min(candidates) if candidates else current


# --- dynamic pricing ----------------------------------------------------------------------------------------


def round_to_step(amount: Fraction | int, step: int = ROUNDING_STEP) -> int:
    """``amount`` rounded to the nearest multiple of ``step``, halves up."""
    return int((Fraction(amount) / step + Fraction(1, 2)).__floor__()) * step


def clamp_rounded(amount: Fraction | int, bounds: Bounds, step: int = ROUNDING_STEP) -> int:
    """``amount`` rounded to ``step`` and kept within the bounds, on a multiple of ``step`` where one fits."""
    result = round_to_step(amount, step)
    floor, ceiling = bounds.floor, bounds.ceiling
    if floor is not None and result < floor:
        up = -(-floor // step) * step
        result = up if ceiling is None or up <= ceiling else floor
    if ceiling is not None and result > ceiling:
        down = ceiling // step * step
        result = down if (floor is None or down >= floor) and down >= MIN_PRICE else ceiling
    return max(result, MIN_PRICE)


def covers_more_than(available: int, daily_sales_milli: int, days: int) -> bool:
    """Whether ``available`` units last more than ``days`` days at the sales rate (no sales: forever)."""
    if daily_sales_milli <= 0:
        return available > 0
    return available * MILLI > days * daily_sales_milli


def covers_fewer_than(available: int, daily_sales_milli: int, days: int) -> bool:
    """Whether ``available`` units last fewer than ``days`` days at the sales rate."""
    if daily_sales_milli <= 0:
        return available <= 0
    return available * MILLI < days * daily_sales_milli


def evaluate_dynamic(
    *,
    base: int,
    bounds: Bounds,
    rules: Sequence[DynamicRule],
    available: int | None,
    daily_sales_milli: int,
) -> tuple[int | None, str | None]:
    """The dynamic price and the rule that set it, or ``(None, None)`` when no rule applies.

    Always computed from the base price (never from the previous dynamic price), so
    the outcome depends only on the current signals and cannot drift.
    """
    if available is None or bounds.floor is None or bounds.ceiling is None:
        return None, None
    for rule in rules:
        if rule.kind is RuleKind.LOWER_WHEN_OVERSTOCKED and covers_more_than(
            available, daily_sales_milli, rule.days
        ):
            return clamp_rounded(Fraction(base * (100 - rule.percent), 100), bounds), rule.id
        if rule.kind is RuleKind.RAISE_WHEN_LOW_STOCK and covers_fewer_than(
            available, daily_sales_milli, rule.days
        ):
            return clamp_rounded(Fraction(base * (100 + rule.percent), 100), bounds), rule.id
    return None, None


# --- checks -------------------------------------------------------------------------------------------------


def check_money(amount: int, path: str, out: list[Violation]) -> None:
    """A price must be within the catalog's range."""
    if not MIN_PRICE <= amount <= MAX_PRICE:
        out.append(
            Violation(
                path, f"must be between {MIN_PRICE:,} and {MAX_PRICE:,} IDR", ErrorCode.PRICE_OUT_OF_RANGE
            )
        )


def check_within_bounds(price: int, bounds: Bounds, path: str) -> list[Violation]:
    """A manual or scheduled price must lie within the seller's floor and ceiling."""
    if bounds.floor is not None and price < bounds.floor:
        return [Violation(path, f"is below the floor of {bounds.floor:,} IDR", ErrorCode.PRICE_BELOW_FLOOR)]
    if bounds.ceiling is not None and price > bounds.ceiling:
        return [
            Violation(path, f"is above the ceiling of {bounds.ceiling:,} IDR", ErrorCode.PRICE_ABOVE_CEILING)
        ]
    return []


def check_bounds(bounds: Bounds, base: int) -> list[Violation]:
    """Floor ≤ base ≤ ceiling, each a valid price."""
    out: list[Violation] = []
    if bounds.floor is not None:
        check_money(bounds.floor, "floor_price.amount", out)
        if bounds.floor > base:
            out.append(
                Violation(
                    "floor_price.amount",
                    f"must be at most the base price of {base:,} IDR",
                    ErrorCode.PRICE_BELOW_FLOOR,
                )
            )
    if bounds.ceiling is not None:
        check_money(bounds.ceiling, "ceiling_price.amount", out)
        if bounds.ceiling < base:
            out.append(
                Violation(
                    "ceiling_price.amount",
                    f"must be at least the base price of {base:,} IDR",
                    ErrorCode.PRICE_ABOVE_CEILING,
                )
            )
    return out


def check_tiers(tiers: Sequence[Tier], base: int) -> list[Violation]:
    """At most five tiers, increasing quantities from 2, strictly decreasing prices below the base."""
    out: list[Violation] = []
    if len(tiers) > MAX_TIERS:
        return [Violation("tiers", f"at most {MAX_TIERS} tiers", ErrorCode.INVALID_TIER)]
    previous_quantity, previous_price = 1, base
    for i, tier in enumerate(tiers):
        path = f"tiers[{i}]"
        if not MIN_TIER_QUANTITY <= tier.min_quantity <= MAX_QUANTITY:
            out.append(
                Violation(
                    f"{path}.min_quantity",
                    f"must be {MIN_TIER_QUANTITY} to {MAX_QUANTITY:,}",
                    ErrorCode.INVALID_TIER,
                )
            )
        elif tier.min_quantity <= previous_quantity:
            out.append(
                Violation(f"{path}.min_quantity", "must exceed the previous tier's", ErrorCode.INVALID_TIER)
            )
        check_money(tier.unit_price, f"{path}.unit_price.amount", out)
        if tier.unit_price >= previous_price:
            what = "the base price" if i == 0 else "the previous tier's"
            out.append(
                Violation(f"{path}.unit_price.amount", f"must be below {what}", ErrorCode.INVALID_TIER)
            )
        previous_quantity, previous_price = max(previous_quantity, tier.min_quantity), tier.unit_price
    return out


def check_rules(rules: Sequence[DynamicRule], bounds: Bounds) -> list[Violation]:
    """At most one rule per kind with sane numbers, on a SKU with both bounds set."""
    out: list[Violation] = []
    if rules and (bounds.floor is None or bounds.ceiling is None):
        out.append(
            Violation(
                "rules", "set the floor and ceiling before dynamic rules", ErrorCode.DYNAMIC_BOUNDS_REQUIRED
            )
        )
    kinds: dict[RuleKind, DynamicRule] = {}
    for i, rule in enumerate(rules):
        path = f"rules[{i}]"
        if rule.kind in kinds:
            out.append(Violation(f"{path}.kind", "one rule of each kind", ErrorCode.INVALID_DYNAMIC_RULE))
        kinds[rule.kind] = rule
        if not MIN_RULE_PERCENT <= rule.percent <= MAX_RULE_PERCENT:
            out.append(
                Violation(
                    f"{path}.percent",
                    f"must be {MIN_RULE_PERCENT} to {MAX_RULE_PERCENT}",
                    ErrorCode.INVALID_DYNAMIC_RULE,
                )
            )
        if not MIN_RULE_DAYS <= rule.days <= MAX_RULE_DAYS:
            out.append(
                Violation(
                    f"{path}.days",
                    f"must be {MIN_RULE_DAYS} to {MAX_RULE_DAYS}",
                    ErrorCode.INVALID_DYNAMIC_RULE,
                )
            )
    lower = kinds.get(RuleKind.LOWER_WHEN_OVERSTOCKED)
    raise_ = kinds.get(RuleKind.RAISE_WHEN_LOW_STOCK)
    if lower is not None and raise_ is not None and lower.days <= raise_.days:
        out.append(
            Violation(
                "rules",
                "the overstock days must exceed the low-stock days, or both rules could apply",
                ErrorCode.INVALID_DYNAMIC_RULE,
            )
        )
    return out


def check_window(
    window: Window, *, now: datetime, longest: timedelta, start_path: str, end_path: str
) -> list[Violation]:
    """A window starts now or later and ends after its start, within ``longest``."""
    out: list[Violation] = []
    # A minute of grace: a client's clock and the request's travel time make "now" slightly past.
    if window.start < now - timedelta(minutes=1):
        out.append(Violation(start_path, "must not be in the past", ErrorCode.INVALID_WINDOW))
    if window.end <= window.start:
        out.append(Violation(end_path, "must be after the start", ErrorCode.INVALID_WINDOW))
    elif window.end - window.start > longest:
        out.append(
            Violation(
                end_path, f"must be at most {longest.days} days after the start", ErrorCode.INVALID_WINDOW
            )
        )
    return out


def checked_campaign_name(raw: str) -> tuple[str, list[Violation]]:
    """A campaign's name cleaned, and what is wrong with it (``toko.platform.text``'s rule, 3 to 100)."""
    return checked_text(
        raw,
        "name",
        ErrorCode.INVALID_CAMPAIGN_NAME,
        minimum=CAMPAIGN_NAME_MIN_LENGTH,
        maximum=CAMPAIGN_NAME_MAX_LENGTH,
    )


def check_campaign_sku(
    *, price: int, base: int, quota: int, per_buyer_limit: int, path: str
) -> list[Violation]:
    """Campaign price below the base price, a positive quota and a per-buyer limit of at least one."""
    out: list[Violation] = []
    check_money(price, f"{path}.campaign_price.amount", out)
    if price >= base:
        out.append(
            Violation(
                f"{path}.campaign_price.amount",
                f"must be below the base price of {base:,} IDR",
                ErrorCode.INVALID_CAMPAIGN_PRICE,
            )
        )
    if not 1 <= quota <= MAX_CAMPAIGN_QUOTA:
        out.append(
            Violation(
                f"{path}.quota", f"must be 1 to {MAX_CAMPAIGN_QUOTA:,}", ErrorCode.INVALID_CAMPAIGN_QUOTA
            )
        )
    if not 1 <= per_buyer_limit <= MAX_QUANTITY:
        out.append(
            Violation(
                f"{path}.per_buyer_limit", f"must be 1 to {MAX_QUANTITY:,}", ErrorCode.INVALID_PER_BUYER_LIMIT
            )
        )
    return out


def check_quantity(quantity: int, path: str) -> list[Violation]:
    """A quantity is a whole number of units, 1 to 10,000."""
    if not 1 <= quantity <= MAX_QUANTITY:
        return [Violation(path, f"must be 1 to {MAX_QUANTITY:,}", ErrorCode.INVALID_QUANTITY)]
    return []
