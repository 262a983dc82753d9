"""Vouchers: what they take off, when they apply, how they stack, and how a discount is split.

Pure Python: no database, transport or proto imports (an import-linter contract keeps it so).
Amounts are integers in the currency's minor unit (rupiah have none), so every split is exact.

Which vouchers apply to a checkout is decided in three steps, shop vouchers first: each shop
voucher takes off its shop's eligible lines; the platform voucher takes off what is left of its
eligible lines; the free-shipping voucher pays the eligible shops' shipping. A line therefore never
gets more off than it costs. The stacking policy allows one voucher per slot: one platform
discount voucher, one voucher per shop, one free-shipping voucher. Vouchers the buyer asked for
take their slot first (a second one for a filled slot is refused as not stackable); a slot left
empty takes the auto-applied voucher that saves the most.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from toko.platform.rules import ValidationFailed, Violation
from toko.platform.text import checked_text, rupiah
from toko.services.promotion.error_codes import ErrorCode

CURRENCY = "IDR"
CODE_PATTERN = re.compile(r"^[A-Z0-9]{4,20}$")
NAME_MAX_LENGTH = 80
MAX_ELIGIBLE_IDS = 100
LONGEST_VALIDITY = timedelta(days=366)
FULL_PERCENT_BP = 10_000
PAYMENT_METHODS = frozenset({"bank_transfer", "qris", "ewallet", "card", "retail_outlet", "cod"})


class VoucherKind(enum.StrEnum):
    """What a voucher takes off (stored by these values)."""

    PERCENTAGE = "percentage"
    FIXED_AMOUNT = "fixed_amount"
    FREE_SHIPPING = "free_shipping"


class UsageState(enum.StrEnum):
    """Where one usage of a voucher is (stored by these values)."""

    HELD = "held"
    REDEEMED = "redeemed"
    RELEASED = "released"


PLATFORM_SLOT = "platform"
SHIPPING_SLOT = "shipping"


@dataclass(frozen=True)
class Voucher:
    """A voucher and how many usages it has given."""

    id: str
    name: str
    kind: VoucherKind
    start_at: datetime
    end_at: datetime
    created_at: datetime
    code: str = ""
    shop_id: str = ""
    percent_bp: int = 0
    # PERCENTAGE: the cap (0: none); FIXED_AMOUNT: the amount; FREE_SHIPPING: the most shipping paid.
    amount: int = 0
    min_spend: int = 0
    total_limit: int = 0
    per_buyer_limit: int = 0
    eligible_shop_ids: frozenset[str] = frozenset()
    eligible_category_ids: frozenset[str] = frozenset()
    eligible_sku_ids: frozenset[str] = frozenset()
    new_buyers_only: bool = False
    payment_methods: frozenset[str] = frozenset()
    auto_apply: bool = False
    held_count: int = 0
    redeemed_count: int = 0
    ended_at: datetime | None = None

    @property
    def slot(self) -> str:
        """The stacking slot it takes: the platform's, its shop's, or free shipping's."""
        if self.kind is VoucherKind.FREE_SHIPPING:
            return SHIPPING_SLOT
        return f"shop:{self.shop_id}" if self.shop_id else PLATFORM_SLOT

    @property
    def used(self) -> int:
        """Usages given: held and redeemed."""
        return self.held_count + self.redeemed_count

    def is_live(self, at: datetime) -> bool:
        """Whether it can be used at ``at``: started, not over, not ended early."""
        return self.start_at <= at < self.end_at and (self.ended_at is None or at < self.ended_at)

    def is_used_up(self) -> bool:
        """Whether its total limit is reached."""
        return bool(self.total_limit) and self.used >= self.total_limit


@dataclass(frozen=True)
class VoucherDraft:
    """What a seller or admin asks for when making a voucher."""

    name: str
    kind: VoucherKind | None
    start_at: datetime | None
    end_at: datetime | None
    code: str = ""
    shop_id: str = ""
    percent_bp: int = 0
    amount: int = 0
    currency: str = CURRENCY
    min_spend: int = 0
    min_spend_currency: str = CURRENCY
    total_limit: int = 0
    per_buyer_limit: int = 0
    eligible_shop_ids: tuple[str, ...] = ()
    eligible_category_ids: tuple[str, ...] = ()
    eligible_sku_ids: tuple[str, ...] = ()
    new_buyers_only: bool = False
    payment_methods: tuple[str, ...] = ()
    auto_apply: bool = False


def new_voucher(draft: VoucherDraft, *, voucher_id: str, now: datetime) -> Voucher:
    """A voucher from ``draft``; raise ``ValidationFailed`` naming every broken rule."""
    name, violations = checked_text(
        draft.name, "voucher.name", ErrorCode.INVALID_VOUCHER, maximum=NAME_MAX_LENGTH
    )
    code = draft.code.strip().upper()
    if code and not CODE_PATTERN.match(code):
        violations.append(
            Violation("voucher.code", "4 to 20 letters A-Z and digits", ErrorCode.INVALID_VOUCHER)
        )
    if not code and not draft.auto_apply:
        violations.append(
            Violation(
                "voucher.code", "a voucher needs a code unless it is auto-applied", ErrorCode.INVALID_VOUCHER
            )
        )
    violations += _amount_violations(draft)
    violations += _window_violations(draft, now)
    violations += _limit_violations(draft)
    violations += _eligibility_violations(draft)
    kind, start_at, end_at = draft.kind, draft.start_at or now, draft.end_at
    if violations or kind is None or start_at is None or end_at is None:  # a missing one is among them
        raise ValidationFailed(violations)
    return Voucher(
        id=voucher_id,
        name=name,
        kind=kind,
        start_at=start_at,
        end_at=end_at,
        created_at=now,
        code=code,
        shop_id=draft.shop_id,
        percent_bp=draft.percent_bp if kind is VoucherKind.PERCENTAGE else 0,
        amount=draft.amount,
        min_spend=draft.min_spend,
        total_limit=draft.total_limit,
        per_buyer_limit=draft.per_buyer_limit,
        eligible_shop_ids=frozenset(draft.eligible_shop_ids),
        eligible_category_ids=frozenset(draft.eligible_category_ids),
        eligible_sku_ids=frozenset(draft.eligible_sku_ids),
        new_buyers_only=draft.new_buyers_only,
        payment_methods=frozenset(draft.payment_methods),
        auto_apply=draft.auto_apply,
    )


def _amount_violations(draft: VoucherDraft) -> list[Violation]:
    found: list[Violation] = []
    bad = ErrorCode.INVALID_VOUCHER
    if draft.kind is None:
        return [Violation("voucher.kind", "must be PERCENTAGE, FIXED_AMOUNT or FREE_SHIPPING", bad)]
    for path, currency in (
        ("voucher.amount.currency", draft.currency),
        ("voucher.min_spend.currency", draft.min_spend_currency),
    ):
        if currency not in ("", CURRENCY):
            found.append(Violation(path, f"must be {CURRENCY}", bad))
    if draft.kind is VoucherKind.PERCENTAGE:
        if not 1 <= draft.percent_bp <= FULL_PERCENT_BP:
            found.append(Violation("voucher.percent_bp", "must be 1 to 10000 (basis points)", bad))
        if draft.amount < 0:
            found.append(Violation("voucher.amount", "the cap must not be negative (0: no cap)", bad))
    elif draft.amount <= 0:
        found.append(Violation("voucher.amount", "must be above zero", bad))
    if draft.min_spend < 0:
        found.append(Violation("voucher.min_spend", "must not be negative", bad))
    return found


def _window_violations(draft: VoucherDraft, now: datetime) -> list[Violation]:
    bad = ErrorCode.INVALID_VOUCHER
    start_at = draft.start_at or now
    if draft.end_at is None:
        return [Violation("voucher.end_time", "is required", bad)]
    if draft.end_at <= start_at:
        return [Violation("voucher.end_time", "must be after start_time", bad)]
    if draft.end_at <= now:
        return [Violation("voucher.end_time", "must be in the future", bad)]
    if draft.end_at - start_at > LONGEST_VALIDITY:
        return [Violation("voucher.end_time", "a voucher lasts at most 366 days", bad)]
    return []


def _limit_violations(draft: VoucherDraft) -> list[Violation]:
    bad = ErrorCode.INVALID_VOUCHER
    found = [
        Violation(f"voucher.{name}", "must not be negative (0: unlimited)", bad)
        for name, value in (("total_limit", draft.total_limit), ("per_buyer_limit", draft.per_buyer_limit))
        if value < 0
    ]
    if 0 < draft.total_limit < draft.per_buyer_limit:
        found.append(Violation("voucher.per_buyer_limit", "must not exceed total_limit", bad))
    return found


def _eligibility_violations(draft: VoucherDraft) -> list[Violation]:
    bad = ErrorCode.INVALID_VOUCHER
    found: list[Violation] = []
    for name, ids in (
        ("eligible_shop_ids", draft.eligible_shop_ids),
        ("eligible_category_ids", draft.eligible_category_ids),
        ("eligible_sku_ids", draft.eligible_sku_ids),
    ):
        if len(ids) > MAX_ELIGIBLE_IDS:
            found.append(Violation(f"voucher.{name}", f"at most {MAX_ELIGIBLE_IDS}", bad))
    if draft.shop_id and draft.eligible_shop_ids:
        found.append(
            Violation("voucher.eligible_shop_ids", "a shop voucher counts its own shop's lines only", bad)
        )
    unknown = sorted(set(draft.payment_methods) - PAYMENT_METHODS)
    if unknown:
        found.append(
            Violation(
                "voucher.payment_methods",
                f"unknown {', '.join(unknown)}; known: {', '.join(sorted(PAYMENT_METHODS))}",
                bad,
            )
        )
    return found


# --- applying vouchers to a checkout ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """A checkout line as priced."""

    sku_id: str
    shop_id: str
    category_id: str
    quantity: int
    line_total: int


@dataclass(frozen=True)
class Checkout:
    """What vouchers apply to: lines, each shop's shipping fee, the payment method, the buyer's history."""

    lines: tuple[Line, ...]
    shipping: Mapping[str, int] = field(default_factory=dict)
    payment_method: str = ""
    first_order: bool = False


@dataclass(frozen=True)
class Refusal:
    """Why a voucher does not apply."""

    reason: ErrorCode
    message: str


@dataclass(frozen=True)
class Applied:
    """A voucher that applies: its discount and where it falls (line parts by SKU, shipping by shop)."""

    voucher: Voucher
    discount: int
    line_parts: tuple[tuple[str, int], ...] = ()
    shipping_parts: tuple[tuple[str, int], ...] = ()
    auto_applied: bool = False
    explanation: str = ""


@dataclass(frozen=True)
class Outcome:
    """Every voucher that applies, and every asked-for one that does not."""

    applied: tuple[Applied, ...]
    refused: tuple[tuple[str, Refusal], ...]

    @property
    def items_discount(self) -> int:
        return sum(sum(part for _sku, part in a.line_parts) for a in self.applied)

    @property
    def shipping_discount(self) -> int:
        return sum(sum(part for _shop, part in a.shipping_parts) for a in self.applied)


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` in whole units, largest remainder first.

    The parts add up to ``total`` exactly (when the weights are not all zero), none is negative, and
    none exceeds its weight when ``total`` is at most their sum. Ties go to the earlier weight.
    """
    whole = sum(weights)
    if total <= 0 or whole <= 0:
        return [0] * len(weights)
    floors = [total * weight // whole for weight in weights]
    remainders = [(total * weight % whole, -index) for index, weight in enumerate(weights)]
    left = total - sum(floors)
    for _remainder, negative_index in sorted(remainders, reverse=True)[:left]:
        floors[-negative_index] += 1
    return floors


def _eligible(voucher: Voucher, line: Line) -> bool:
    if voucher.shop_id and line.shop_id != voucher.shop_id:
        return False
    if voucher.eligible_shop_ids and line.shop_id not in voucher.eligible_shop_ids:
        return False
    if voucher.eligible_category_ids and line.category_id not in voucher.eligible_category_ids:
        return False
    return not voucher.eligible_sku_ids or line.sku_id in voucher.eligible_sku_ids


def refusal(voucher: Voucher, checkout: Checkout, *, at: datetime, buyer_usages: int) -> Refusal | None:
    """Why ``voucher`` cannot be used on ``checkout`` at ``at``, or None when it can."""
    if at < voucher.start_at:
        return Refusal(ErrorCode.VOUCHER_NOT_STARTED, f"{voucher.name} starts later")
    if not voucher.is_live(at):
        return Refusal(ErrorCode.VOUCHER_EXPIRED, f"{voucher.name} has ended")
    if voucher.is_used_up():
        return Refusal(ErrorCode.VOUCHER_USED_UP, f"{voucher.name} is used up")
    if voucher.per_buyer_limit and buyer_usages >= voucher.per_buyer_limit:
        return Refusal(
            ErrorCode.VOUCHER_BUYER_LIMIT_REACHED, f"you have used {voucher.name} as often as it allows"
        )
    if voucher.new_buyers_only and not checkout.first_order:
        return Refusal(ErrorCode.VOUCHER_NEW_BUYERS_ONLY, f"{voucher.name} is for a first order only")
    if voucher.payment_methods and checkout.payment_method not in voucher.payment_methods:
        methods = ", ".join(sorted(voucher.payment_methods))
        return Refusal(ErrorCode.VOUCHER_PAYMENT_METHOD, f"{voucher.name} needs payment by {methods}")
    eligible = [line for line in checkout.lines if _eligible(voucher, line)]
    if not eligible:
        return Refusal(
            ErrorCode.VOUCHER_NOT_ELIGIBLE, f"no item in the checkout is eligible for {voucher.name}"
        )
    if voucher.kind is VoucherKind.FREE_SHIPPING and not any(
        checkout.shipping.get(shop, 0) > 0 for shop in {line.shop_id for line in eligible}
    ):
        return Refusal(
            ErrorCode.VOUCHER_NOT_ELIGIBLE, f"no eligible shop charges shipping for {voucher.name}"
        )
    spend = sum(line.line_total for line in eligible)
    if spend < voucher.min_spend:
        return Refusal(
            ErrorCode.VOUCHER_MIN_SPEND_NOT_MET,
            f"{voucher.name} needs a spend of Rp {rupiah(voucher.min_spend)} on eligible items"
            f" (now Rp {rupiah(spend)})",
        )
    return None


def _discount(voucher: Voucher, checkout: Checkout, remaining: Mapping[str, int], *, auto: bool) -> Applied:
    """What ``voucher`` takes off, given what is ``remaining`` of each line (by SKU) after earlier ones."""
    eligible = [line for line in checkout.lines if _eligible(voucher, line)]
    if voucher.kind is VoucherKind.FREE_SHIPPING:
        shops = sorted({line.shop_id for line in eligible})
        fees = [checkout.shipping.get(shop, 0) for shop in shops]
        total = min(voucher.amount, sum(fees))
        parts = apportion(total, fees)
        return Applied(
            voucher,
            total,
            shipping_parts=tuple((shop, part) for shop, part in zip(shops, parts, strict=True) if part),
            auto_applied=auto,
            explanation=f"shipping paid up to Rp {rupiah(voucher.amount)}: Rp {rupiah(total)} off",
        )
    bases = [remaining[line.sku_id] for line in eligible]
    base = sum(bases)
    if voucher.kind is VoucherKind.PERCENTAGE:
        uncapped = base * voucher.percent_bp // FULL_PERCENT_BP
        total = min(uncapped, voucher.amount) if voucher.amount else uncapped
        percent = f"{voucher.percent_bp / 100:g}%"
        cap = (
            f", capped at Rp {rupiah(voucher.amount)}" if voucher.amount and uncapped > voucher.amount else ""
        )
        explanation = f"{percent} off Rp {rupiah(base)}{cap}: Rp {rupiah(total)} off"
    else:
        total = min(voucher.amount, base)
        explanation = f"Rp {rupiah(total)} off"
    parts = apportion(total, bases)
    return Applied(
        voucher,
        total,
        line_parts=tuple((line.sku_id, part) for line, part in zip(eligible, parts, strict=True) if part),
        auto_applied=auto,
        explanation=explanation,
    )


def _stage(voucher: Voucher) -> int:
    # Shop vouchers first, then the platform's on what is left, then shipping.
    return {PLATFORM_SLOT: 1, SHIPPING_SLOT: 2}.get(voucher.slot, 0)


def apply_vouchers(
    checkout: Checkout,
    *,
    requested: Sequence[tuple[str, Voucher | None]],
    automatic: Iterable[Voucher],
    buyer_usages: Mapping[str, int],
    at: datetime,
) -> Outcome:
    """The vouchers that apply to ``checkout``: those asked for (``(what was asked, voucher or None)``)
    first, then the best auto-applied one for each slot still empty, under the stacking policy."""
    refused: list[tuple[str, Refusal]] = []
    chosen: dict[str, tuple[Voucher, bool]] = {}
    seen: set[str] = set()
    for asked, voucher in requested:
        if voucher is None:
            refused.append((asked, Refusal(ErrorCode.VOUCHER_NOT_FOUND, f"no voucher {asked}")))
            continue
        if voucher.id in seen:
            continue
        seen.add(voucher.id)
        why = refusal(voucher, checkout, at=at, buyer_usages=buyer_usages.get(voucher.id, 0))
        if why is None and voucher.slot in chosen:
            why = Refusal(
                ErrorCode.VOUCHER_NOT_STACKABLE,
                f"{voucher.name} cannot be combined with {chosen[voucher.slot][0].name}",
            )
        if why is not None:
            refused.append((asked, why))
        else:
            chosen[voucher.slot] = (voucher, False)
    applied = _apply_in_stages(checkout, chosen)
    candidates = [v for v in automatic if v.id not in seen and v.slot not in chosen]
    for slot in sorted({v.slot for v in candidates}):
        best: tuple[int, str, Voucher] | None = None
        for voucher in (v for v in candidates if v.slot == slot):
            if refusal(voucher, checkout, at=at, buyer_usages=buyer_usages.get(voucher.id, 0)) is not None:
                continue
            saving = _apply_in_stages(checkout, {**chosen, slot: (voucher, True)})
            gain = sum(a.discount for a in saving)
            if best is None or (gain, voucher.id) > (best[0], best[1]):
                best = (gain, voucher.id, voucher)
        if best is not None and best[0] > 0:
            chosen[slot] = (best[2], True)
            applied = _apply_in_stages(checkout, chosen)
    return Outcome(
        applied=tuple(a for a in applied if a.discount > 0 or not a.auto_applied), refused=tuple(refused)
    )


def _apply_in_stages(checkout: Checkout, chosen: Mapping[str, tuple[Voucher, bool]]) -> list[Applied]:
    remaining = {line.sku_id: line.line_total for line in checkout.lines}
    applied: list[Applied] = []
    for voucher, auto in sorted(chosen.values(), key=lambda pair: (_stage(pair[0]), pair[0].slot)):
        result = _discount(voucher, checkout, remaining, auto=auto)
        for sku_id, part in result.line_parts:
            remaining[sku_id] -= part
        applied.append(result)
    return applied


def after_end(voucher: Voucher, now: datetime) -> Voucher:
    """The voucher ended at ``now`` (ending it again keeps the first end)."""
    return voucher if voucher.ended_at is not None else replace(voucher, ended_at=now)


@dataclass(frozen=True)
class Usage:
    """One voucher's use by one checkout."""

    voucher_id: str
    checkout_id: str
    buyer_id: str
    state: UsageState
    expire_at: datetime


def hold_refusal(voucher: Voucher, *, at: datetime, buyer_usages: int) -> Refusal | None:
    """Why one more usage of ``voucher`` cannot be held at ``at`` (its rules on the checkout were
    checked by ApplyVouchers; these are the ones a race can break), or None."""
    if not voucher.is_live(at):
        return Refusal(ErrorCode.VOUCHER_EXPIRED, f"{voucher.name} has ended")
    if voucher.is_used_up():
        return Refusal(ErrorCode.VOUCHER_USED_UP, f"{voucher.name} is used up")
    if voucher.per_buyer_limit and buyer_usages >= voucher.per_buyer_limit:
        return Refusal(
            ErrorCode.VOUCHER_BUYER_LIMIT_REACHED, f"the buyer has used {voucher.name} as often as it allows"
        )
    return None
