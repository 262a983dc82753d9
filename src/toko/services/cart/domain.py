"""The cart's rules: caps on lines, quantities and notes, merging a guest cart, and what a buyer is told
about each line when the cart is repriced.

Pure Python: no database, transport or proto imports (an import-linter contract keeps it so). The
product service's answers reach this module as the plain values ``SkuFacts`` and ``QuotedPrice``; what
it decides (notices, purchasable, totals) is a function of them and of the line.

Errors raised here (translated into platform errors by the handlers)::

    ValidationFailed    bad values in the request, every one of them (INVALID_ARGUMENT;
                        from ``toko.platform.rules``)
    CartFull            the lines would be more than one cart holds (FAILED_PRECONDITION)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum, auto

from toko.platform.rules import Violation
from toko.platform.text import checked_text, rupiah
from toko.services.cart.error_codes import ErrorCode

# The product service quotes at most 100 lines at once, and every read quotes the whole cart.
MAX_LINES = 100
MIN_QUANTITY, MAX_QUANTITY = 1, 999
NOTE_MAX_LENGTH = 200
CURRENCY = "IDR"

# What a price source is called on the wire and in the database (CartLine.price_source).
CAMPAIGN_SOURCE = "campaign"
# The availability buckets the inventory service reports; "1-5" is the only one that says how many
# are left closely enough to tell a buyer wanting more that they are too many.
OUT_OF_STOCK_BUCKET = "0"
FEW_LEFT_BUCKET, FEW_LEFT_MOST = "1-5", 5


class CartFull(Exception):
    """The cart would hold more than ``MAX_LINES`` lines."""

    def __init__(self, lines: int) -> None:
        self.lines = lines
        super().__init__(f"a cart holds at most {MAX_LINES} lines; this would make {lines}")


@dataclass(frozen=True)
class Money:
    """An amount of minor units of a currency."""

    amount: int
    currency: str = CURRENCY


@dataclass(frozen=True)
class Line:
    """One SKU in a cart, as stored: what the buyer wants and the price they last saw."""

    sku_id: str
    shop_id: str
    quantity: int
    note: str
    selected: bool
    # The unit price and its source as the buyer last saw them: on add, on a change of the line, on
    # an acknowledgement. None while the product service never priced the line for them.
    seen_price: Money | None
    seen_source: str
    added_at: datetime
    # Order of adding, within the cart: lines and shops are shown in it.
    position: int


@dataclass(frozen=True)
class Cart:
    """A buyer's or a guest's cart, as stored."""

    id: str
    buyer_id: str
    updated_at: datetime
    expires_at: datetime | None
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class SkuFacts:
    """What the product service says of a SKU and its product, as a cart shows it."""

    sku_id: str
    product_id: str
    shop_id: str
    product_title: str
    image_url: str
    option_values: Mapping[str, str]
    on_sale: bool
    # Availability as the inventory service last reported it; ``stock_known`` is False before any report.
    stock_known: bool
    in_stock: bool
    quantity_bucket: str


@dataclass(frozen=True)
class NextTier:
    """Buying ``min_quantity`` units or more lowers the unit price to ``unit_price``."""

    min_quantity: int
    unit_price: Money


@dataclass(frozen=True)
class QuotedPrice:
    """The product service's quote of one line at its quantity."""

    unit_price: Money
    source: str
    base_price: Money
    # A running flash sale's per-buyer limit on the SKU; 0 without one.
    per_buyer_limit: int = 0
    # The wholesale tier a larger quantity reaches; None when no tier beats the price now.
    next_tier: NextTier | None = None


class NoticeKind(Enum):
    """What a notice on a line is about (CartLineNoticeKind on the wire)."""

    PRICE_UP = auto()
    PRICE_DOWN = auto()
    OUT_OF_STOCK = auto()
    FEWER_LEFT = auto()
    OVER_PURCHASE_LIMIT = auto()
    FLASH_SALE_ENDED = auto()
    UNAVAILABLE = auto()
    NEXT_TIER = auto()


@dataclass(frozen=True)
class Notice:
    """One thing about a line the buyer should know before checking out."""

    kind: NoticeKind
    message: str
    previous_price: Money | None = None
    unit_price: Money | None = None
    quantity: int = 0


@dataclass(frozen=True)
class PricedLine:
    """A line as the buyer sees it now: its SKU's facts, its price, what changed, whether it can be bought."""

    line: Line
    sku: SkuFacts | None
    price: QuotedPrice | None
    notices: tuple[Notice, ...] = field(default=())
    purchasable: bool = False

    @property
    def counts(self) -> bool:
        """Whether the line is in the totals: selected, and buyable now."""
        return self.line.selected and self.purchasable

    @property
    def total(self) -> int:
        """The line's total at the price now; 0 without one."""
        return 0 if self.price is None else self.price.unit_price.amount * self.line.quantity


# --- input rules ---------------------------------------------------------------------------------------


def quantity_violations(quantity: int, path: str) -> list[Violation]:
    """What is wrong with a line's quantity (at most one violation)."""
    if MIN_QUANTITY <= quantity <= MAX_QUANTITY:
        return []
    return [Violation(path, f"must be {MIN_QUANTITY} to {MAX_QUANTITY}", ErrorCode.QUANTITY_OUT_OF_RANGE)]


def checked_note(raw: str, path: str) -> tuple[str, list[Violation]]:
    """A note to the seller, cleaned (empty is allowed), and what is wrong with it."""
    return checked_text(raw, path, ErrorCode.INVALID_NOTE, maximum=NOTE_MAX_LENGTH, minimum=0)


def check_room(lines: Iterable[Line], sku_id: str) -> None:
    """Raise ``CartFull`` unless the cart has a line of ``sku_id`` or room for one more line."""
    skus = {line.sku_id for line in lines}
    if sku_id not in skus and len(skus) >= MAX_LINES:
        raise CartFull(len(skus) + 1)


# --- merging a guest cart ------------------------------------------------------------------------------


def merged_lines(buyer: Sequence[Line], guest: Sequence[Line]) -> list[Line]:
    """The buyer's lines after a guest cart's lines joined them; raise ``CartFull`` when they won't fit.

    A SKU in both keeps the buyer's line, its quantity the sum up to ``MAX_QUANTITY``, its note the
    buyer's unless that is empty, selected if either was. The guest's other lines follow the buyer's
    in the guest cart's order. Either every guest line fits or none is moved.
    """
    by_sku = {line.sku_id: line for line in buyer}
    next_position = max((line.position for line in buyer), default=0) + 1
    merged = dict(by_sku)
    for line in sorted(guest, key=lambda guest_line: guest_line.position):
        mine = by_sku.get(line.sku_id)
        if mine is None:
            merged[line.sku_id] = replace(line, position=next_position)
            next_position += 1
        else:
            merged[line.sku_id] = replace(
                mine,
                quantity=min(mine.quantity + line.quantity, MAX_QUANTITY),
                note=mine.note or line.note,
                selected=mine.selected or line.selected,
            )
    if len(merged) > MAX_LINES:
        raise CartFull(len(merged))
    return sorted(merged.values(), key=lambda merged_line: merged_line.position)


# --- repricing -----------------------------------------------------------------------------------------


def priced_line(line: Line, sku: SkuFacts | None, price: QuotedPrice | None) -> PricedLine:
    """The line as the buyer sees it now, from what the product service said of its SKU and price.

    ``sku`` is None when the product service does not know the SKU; ``price`` is None when it would not
    quote it. Either makes the line UNAVAILABLE: it stays in the cart, out of the totals.
    """
    if sku is None or not sku.on_sale or price is None:
        notice = Notice(NoticeKind.UNAVAILABLE, "This product is no longer sold.")
        return PricedLine(line, sku, None, (notice,), purchasable=False)
    notices = [*_price_notices(line, price), *_stock_notices(line, sku)]
    blocking = {NoticeKind.OUT_OF_STOCK, NoticeKind.FEWER_LEFT}
    purchasable = not any(notice.kind in blocking for notice in notices)
    if purchasable:
        notices.extend(_tier_notices(sku, price))
    return PricedLine(line, sku, price, tuple(notices), purchasable=purchasable)


def _price_notices(line: Line, price: QuotedPrice) -> list[Notice]:
    found: list[Notice] = []
    seen, now = line.seen_price, price.unit_price
    if seen is not None and seen != now:
        went_up = seen.currency == now.currency and now.amount > seen.amount
        found.append(
            Notice(
                NoticeKind.PRICE_UP if went_up else NoticeKind.PRICE_DOWN,
                f"The price went {'up' if went_up else 'down'} since you last saw it.",
                previous_price=seen,
                unit_price=now,
            )
        )
    over_limit = price.per_buyer_limit > 0 and line.quantity > price.per_buyer_limit
    if over_limit:
        found.append(
            Notice(
                NoticeKind.OVER_PURCHASE_LIMIT,
                f"The flash sale price is for at most {price.per_buyer_limit} per buyer; "
                "this line is priced without it.",
                quantity=price.per_buyer_limit,
            )
        )
    elif line.seen_source == CAMPAIGN_SOURCE and price.source != CAMPAIGN_SOURCE:
        found.append(Notice(NoticeKind.FLASH_SALE_ENDED, "The flash sale you saw this product in has ended."))
    return found


def _stock_notices(line: Line, sku: SkuFacts) -> list[Notice]:
    # Unknown stock (the inventory service never reported on the SKU) is no reason to stop a buyer:
    # the reservation at checkout is what decides.
    if sku.quantity_bucket == OUT_OF_STOCK_BUCKET or (sku.stock_known and not sku.in_stock):
        return [Notice(NoticeKind.OUT_OF_STOCK, "This product is out of stock.")]
    if _more_than_left(sku, line.quantity):
        return [
            Notice(
                NoticeKind.FEWER_LEFT,
                f"Only {FEW_LEFT_MOST} or fewer are left; lower the quantity to buy it.",
                quantity=FEW_LEFT_MOST,
            )
        ]
    return []


def _tier_notices(sku: SkuFacts, price: QuotedPrice) -> list[Notice]:
    tier = price.next_tier
    # Buying more is no offer when the cart could not hold that many or fewer are known to be left.
    if tier is None or tier.min_quantity > MAX_QUANTITY or _more_than_left(sku, tier.min_quantity):
        return []
    return [
        Notice(
            NoticeKind.NEXT_TIER,
            f"Buy {tier.min_quantity} or more for Rp {rupiah(tier.unit_price.amount)} each.",
            previous_price=price.unit_price,
            unit_price=tier.unit_price,
            quantity=tier.min_quantity,
        )
    ]


def _more_than_left(sku: SkuFacts, quantity: int) -> bool:
    """Whether ``quantity`` is more than the few units the inventory service says are left."""
    return sku.quantity_bucket == FEW_LEFT_BUCKET and quantity > FEW_LEFT_MOST


@dataclass(frozen=True)
class PricedCart:
    """A cart repriced now: the id its holder uses, its lines as the buyer sees them, the quote window."""

    cart: Cart
    # What the client calls the cart: a guest cart's id, or the buyer's cart's id.
    public_id: str
    lines: tuple[PricedLine, ...]
    priced_at: datetime
    price_expires_at: datetime | None = None

    @property
    def total_quantity(self) -> int:
        """Units in all lines."""
        return sum(line.line.quantity for line in self.lines)

    @property
    def selected_quantity(self) -> int:
        """Units in the selected lines that can be bought now."""
        return sum(line.line.quantity for line in self.lines if line.counts)


def selected_total(lines: Iterable[PricedLine]) -> int:
    """Sum of the totals of the selected lines that can be bought now."""
    return sum(line.total for line in lines if line.counts)


def by_shop(lines: Sequence[PricedLine]) -> list[tuple[str, list[PricedLine]]]:
    """Lines grouped by shop, shops in the order their first line was added, lines in the order added."""
    groups: dict[str, list[PricedLine]] = {}
    for line in sorted(lines, key=lambda priced: priced.line.position):
        groups.setdefault(line.line.shop_id, []).append(line)
    return list(groups.items())
