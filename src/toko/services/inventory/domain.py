"""The inventory's rules: quantities, allocation of reservations, availability buckets, reorder maths,
the purchase-order state machine and supplier performance.

Pure Python: no database, transport or proto imports. Stock levels themselves are
never computed here from a read value and written back: the repository moves them
with conditional UPDATEs, and this module decides *what* to move.

Errors raised here (translated into platform errors by the handlers)::

    InventoryRuleError
    ├── InvalidInput        a bad value in the request (INVALID_ARGUMENT)
    ├── NotPossible         the state forbids it (FAILED_PRECONDITION)
    └── InsufficientStock   not enough available for some SKUs (FAILED_PRECONDITION)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction

from toko.platform.error_codes import ReasonCode
from toko.services.inventory.error_codes import ErrorCode

MAX_QUANTITY = 1_000_000
MAX_LINES = 100
DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS = 900, 86_400
NAME_MAX_LENGTH, ADDRESS_MAX_LENGTH, CITY_MAX_LENGTH = 100, 500, 100
REASON_MAX_LENGTH, REFERENCE_MAX_LENGTH = 500, 200
MAX_DAYS = 365
MAX_COST = 100_000_000_000


class WarehouseKind(StrEnum):
    """Who runs a warehouse."""

    SHOP = "shop"
    FULFILMENT_CENTRE = "fulfilment_centre"


class MovementKind(StrEnum):
    """The kind of one ledger row; each moves on hand and reserved by fixed signs."""

    RECEIPT = "receipt"
    RESERVATION = "reservation"
    RELEASE = "release"
    SALE = "sale"
    RETURN_TO_STOCK = "return_to_stock"
    ADJUSTMENT = "adjustment"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    WRITE_OFF = "write_off"
    CAMPAIGN_HOLD = "campaign_hold"


class ReservationStatus(StrEnum):
    """Where a reservation is in its life; only active ones hold stock."""

    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


class PurchaseOrderStatus(StrEnum):
    """Where a purchase order is in its life."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    PARTIALLY_RECEIVED = "partially_received"
    RECEIVED = "received"
    CANCELLED = "cancelled"


# --- errors -------------------------------------------------------------------------------------------------


class InventoryRuleError(Exception):
    """Base of the errors the inventory's rules raise."""

    def __init__(self, reason: ReasonCode, message: str, field: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.field = field


class InvalidInput(InventoryRuleError):
    """A value in the request breaks a rule."""


class NotPossible(InventoryRuleError):
    """The current state does not allow the operation."""


class InsufficientStock(InventoryRuleError):
    """Some SKUs do not have enough available; ``shortages`` maps each to (asked, available)."""

    def __init__(self, shortages: Mapping[str, tuple[int, int]]) -> None:
        self.shortages = dict(shortages)
        named = ", ".join(
            f"{sku} (asked {asked}, available {available})"
            for sku, (asked, available) in sorted(self.shortages.items())
        )
        super().__init__(ErrorCode.INSUFFICIENT_STOCK, f"not enough stock for: {named}")


# --- values -------------------------------------------------------------------------------------------------


def positive_quantity(value: int, field: str) -> int:
    """``value`` when it is a whole number of units from 1 to MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise InvalidInput(
            ErrorCode.INVALID_QUANTITY, f"must be a whole number from 1 to {MAX_QUANTITY}", field
        )
    return value


def non_negative_quantity(value: int, field: str, reason: ReasonCode = ErrorCode.INVALID_QUANTITY) -> int:
    """``value`` when it is a whole number from 0 to MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise InvalidInput(reason, f"must be a whole number from 0 to {MAX_QUANTITY}", field)
    return value


def required_text(value: str, field: str, max_length: int, reason: ReasonCode) -> str:
    """``value`` stripped, when it is not blank and not too long."""
    text = value.strip()
    if not text or len(text) > max_length:
        raise InvalidInput(reason, f"must be 1 to {max_length} characters", field)
    return text


def optional_text(value: str, field: str, max_length: int, reason: ReasonCode) -> str:
    """``value`` stripped, when it is not too long."""
    text = value.strip()
    if len(text) > max_length:
        raise InvalidInput(reason, f"must be at most {max_length} characters", field)
    return text


def adjustment_reason(value: str, field: str = "reason") -> str:
    """The reason of an adjustment or write-off, which the books require."""
    text = value.strip()
    if not text:
        raise InvalidInput(ErrorCode.ADJUSTMENT_REASON_REQUIRED, "say why the stock is corrected", field)
    if len(text) > REASON_MAX_LENGTH:
        raise InvalidInput(ErrorCode.INVALID_REASON, f"must be at most {REASON_MAX_LENGTH} characters", field)
    return text


def adjustment_delta(value: int, field: str = "delta") -> int:
    """A signed, non-zero change of the quantity on hand."""
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or abs(value) > MAX_QUANTITY:
        raise InvalidInput(
            ErrorCode.INVALID_QUANTITY, f"must be a non-zero whole number within ±{MAX_QUANTITY}", field
        )
    return value


def reservation_ttl(seconds: int) -> timedelta:
    """How long a reservation holds stock; 0 means the default."""
    if seconds == 0:
        return timedelta(seconds=DEFAULT_TTL_SECONDS)
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise InvalidInput(ErrorCode.INVALID_TTL, f"must be 1 to {MAX_TTL_SECONDS} seconds", "ttl_seconds")
    return timedelta(seconds=seconds)


def quantity_bucket(available: int) -> str:
    """Availability as buyers see it: exact counts are a seller's business."""
    if available <= 0:
        return "0"
    if available <= 5:
        return "1-5"
    if available <= 20:
        return "6-20"
    return "21+"


def is_low(available: int, reorder_point: int) -> bool:
    """A line is low once its available quantity is at or below a (positive) reorder point."""
    return reorder_point > 0 and available <= reorder_point


def crossed_into_low(before: int, after: int, reorder_point: int) -> bool:
    """True when a movement took a line from above its reorder point to at or below it."""
    return is_low(after, reorder_point) and not is_low(before, reorder_point)


# --- allocation ---------------------------------------------------------------------------------------------

# Enough geography to prefer a warehouse in the buyer's province over one across the country.
PROVINCES: Mapping[str, str] = {
    **dict.fromkeys(
        ["jakarta", "jakarta barat", "jakarta pusat", "jakarta selatan", "jakarta timur", "jakarta utara"],
        "DKI Jakarta",
    ),
    **dict.fromkeys(
        ["bandung", "bekasi", "bogor", "depok", "cimahi", "cirebon", "karawang", "sukabumi", "tasikmalaya"],
        "Jawa Barat",
    ),
    **dict.fromkeys(["tangerang", "tangerang selatan", "serang", "cilegon"], "Banten"),
    **dict.fromkeys(["semarang", "solo", "surakarta", "pekalongan", "magelang", "tegal"], "Jawa Tengah"),
    **dict.fromkeys(["yogyakarta", "sleman", "bantul"], "DI Yogyakarta"),
    **dict.fromkeys(["surabaya", "malang", "sidoarjo", "kediri", "madiun", "gresik"], "Jawa Timur"),
    **dict.fromkeys(["denpasar", "badung", "gianyar"], "Bali"),
    **dict.fromkeys(["medan", "binjai", "pematangsiantar"], "Sumatera Utara"),
    **dict.fromkeys(["padang", "bukittinggi"], "Sumatera Barat"),
    **dict.fromkeys(["palembang"], "Sumatera Selatan"),
    **dict.fromkeys(["batam", "tanjung pinang"], "Kepulauan Riau"),
    **dict.fromkeys(["makassar"], "Sulawesi Selatan"),
    **dict.fromkeys(["balikpapan", "samarinda"], "Kalimantan Timur"),
}


def province_of(city: str) -> str | None:
    """The province of a known city (case and spacing ignored), else None."""
    return PROVINCES.get(" ".join(city.lower().split()))


def proximity(buyer_city: str, warehouse_city: str) -> int:
    """0 for the same city, 1 for the same province, 2 otherwise (or when the buyer's city is unknown)."""
    if not buyer_city.strip():
        return 2
    buyer, warehouse = " ".join(buyer_city.lower().split()), " ".join(warehouse_city.lower().split())
    if buyer == warehouse:
        return 0
    province = province_of(buyer)
    return 1 if province is not None and province == province_of(warehouse) else 2


@dataclass(frozen=True)
class Line:
    """A quantity of one SKU asked for."""

    sku_id: str
    quantity: int


@dataclass(frozen=True)
class Candidate:
    """A stock line that could serve a SKU, as read under lock."""

    stock_id: str
    sku_id: str
    warehouse_id: str
    city: str
    available: int


@dataclass(frozen=True)
class Allocated:
    """Units of a SKU to hold in one stock line."""

    stock_id: str
    sku_id: str
    warehouse_id: str
    quantity: int


def validate_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    """Lines with positive quantities, at most MAX_LINES, each SKU once."""
    if not lines:
        raise InvalidInput(ErrorCode.NO_LINES, "ask for at least one SKU", "lines")
    if len(lines) > MAX_LINES:
        raise InvalidInput(ErrorCode.TOO_MANY_LINES, f"at most {MAX_LINES} lines", "lines")
    seen: set[str] = set()
    for index, line in enumerate(lines):
        positive_quantity(line.quantity, f"lines[{index}].quantity")
        if line.sku_id in seen:
            raise InvalidInput(ErrorCode.DUPLICATE_SKU, "each SKU once per request", f"lines[{index}].sku_id")
        seen.add(line.sku_id)
    return tuple(lines)


def lines_digest(lines: Iterable[Line]) -> str:
    """A digest of the lines that ignores their order, to tell a retry from a reused reference."""
    canonical = ";".join(f"{line.sku_id}:{line.quantity}" for line in sorted(lines, key=lambda x: x.sku_id))
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_allocation(
    lines: Sequence[Line], candidates: Sequence[Candidate], buyer_city: str
) -> list[Allocated]:
    """Where to hold each line: nearest warehouses first, then the most available, split when needed.

    All or nothing: raises ``InsufficientStock`` naming every SKU that cannot be served in full.
    """
    by_sku: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        if candidate.available > 0:
            by_sku.setdefault(candidate.sku_id, []).append(candidate)
    plan: list[Allocated] = []
    shortages: dict[str, tuple[int, int]] = {}
    for line in lines:
        options = sorted(
            by_sku.get(line.sku_id, []),
            # The warehouse id breaks ties so the same stock always yields the same plan.
            key=lambda c: (proximity(buyer_city, c.city), -c.available, c.warehouse_id),
        )
        total = sum(c.available for c in options)
        if total < line.quantity:
            shortages[line.sku_id] = (line.quantity, total)
            continue
        remaining = line.quantity
        for option in options:
            if remaining == 0:
                break
            take = min(option.available, remaining)
            plan.append(Allocated(option.stock_id, line.sku_id, option.warehouse_id, take))
            remaining -= take
    if shortages:
        raise InsufficientStock(shortages)
    return plan


# --- flash sales --------------------------------------------------------------------------------------------


def flash_sale_window(starts: datetime, ends: datetime) -> tuple[datetime, datetime]:
    """A campaign's claim window, which must end after it starts."""
    if ends <= starts:
        raise InvalidInput(ErrorCode.INVALID_TIME_WINDOW, "must end after it starts", "end_time")
    return starts, ends


def per_buyer_limit(value: int, quota: int) -> int:
    """How many units one buyer may claim: at least 1, at most the quota."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= quota:
        raise InvalidInput(
            ErrorCode.INVALID_PER_BUYER_LIMIT, "must be at least 1 and at most the quota", "per_buyer_limit"
        )
    return value


# --- reordering ---------------------------------------------------------------------------------------------


def average_daily_demand(units_sold: int, days: int) -> Fraction:
    """Units sold per day over ``days`` days, exactly."""
    if days < 1:
        raise InvalidInput(ErrorCode.INVALID_DAYS, "must be at least one day", "demand_days")
    return Fraction(max(units_sold, 0), days)


def reorder_point(daily_demand: Fraction, lead_time_days: int, safety_stock: int) -> int:
    """Average daily demand x lead time + safety stock, rounded up to whole units."""
    return math.ceil(daily_demand * lead_time_days) + safety_stock


def suggested_order(
    *, available: int, point: int, daily_demand: Fraction, lead_time_days: int, min_order_quantity: int
) -> int:
    """Units to order for a line at or below its reorder point, 0 above it.

    Orders up to the reorder point plus one more lead time of demand, so the line is
    not back at its reorder point the day the goods arrive; then at least the MOQ.
    """
    if available > point:
        return 0
    order_up_to = point + math.ceil(daily_demand * lead_time_days)
    shortfall = max(order_up_to - available, 1)
    return max(shortfall, min_order_quantity)


# --- purchase orders ----------------------------------------------------------------------------------------

_PO_TRANSITIONS: Mapping[PurchaseOrderStatus, frozenset[PurchaseOrderStatus]] = {
    PurchaseOrderStatus.DRAFT: frozenset({PurchaseOrderStatus.SUBMITTED, PurchaseOrderStatus.CANCELLED}),
    PurchaseOrderStatus.SUBMITTED: frozenset(
        {
            PurchaseOrderStatus.PARTIALLY_RECEIVED,
            PurchaseOrderStatus.RECEIVED,
            PurchaseOrderStatus.CANCELLED,
        }
    ),
    PurchaseOrderStatus.PARTIALLY_RECEIVED: frozenset(
        {PurchaseOrderStatus.PARTIALLY_RECEIVED, PurchaseOrderStatus.RECEIVED}
    ),
    PurchaseOrderStatus.RECEIVED: frozenset(),
    PurchaseOrderStatus.CANCELLED: frozenset(),
}


def po_transition(current: PurchaseOrderStatus, target: PurchaseOrderStatus) -> PurchaseOrderStatus:
    """``target`` when a purchase order may go there from ``current``."""
    if target not in _PO_TRANSITIONS[current]:
        raise NotPossible(
            ErrorCode.INVALID_PO_TRANSITION, f"a {current.value} purchase order cannot become {target.value}"
        )
    return target


@dataclass(frozen=True)
class OrderedLine:
    """A purchase order line: what was ordered and what arrived so far."""

    sku_id: str
    quantity: int
    accepted: int = 0
    rejected: int = 0

    @property
    def outstanding(self) -> int:
        """Units still expected."""
        return self.quantity - self.accepted - self.rejected


@dataclass(frozen=True)
class ReceivedLine:
    """What arrived of one line in one goods receipt."""

    sku_id: str
    accepted: int
    rejected: int
    # The lot of the accepted units, for a perishable SKU: its code and expiry date (YYYY-MM-DD).
    lot_code: str = ""
    expiry_date: str = ""


def apply_receipt(
    status: PurchaseOrderStatus, lines: Sequence[OrderedLine], receipt: Sequence[ReceivedLine]
) -> tuple[PurchaseOrderStatus, list[OrderedLine]]:
    """The status and lines after a goods receipt; refuses receiving more than was ordered."""
    if status not in (PurchaseOrderStatus.SUBMITTED, PurchaseOrderStatus.PARTIALLY_RECEIVED):
        raise NotPossible(
            ErrorCode.INVALID_PO_TRANSITION, f"goods cannot be received on a {status.value} purchase order"
        )
    if not receipt:
        raise InvalidInput(ErrorCode.NO_LINES, "name at least one line received", "lines")
    by_sku = {line.sku_id: line for line in lines}
    seen: set[str] = set()
    for index, got in enumerate(receipt):
        field = f"lines[{index}]"
        if got.sku_id not in by_sku:
            raise InvalidInput(ErrorCode.SKU_NOT_ON_ORDER, "this SKU is not on the order", f"{field}.sku_id")
        if got.sku_id in seen:
            raise InvalidInput(ErrorCode.DUPLICATE_SKU, "each SKU once per receipt", f"{field}.sku_id")
        seen.add(got.sku_id)
        non_negative_quantity(got.accepted, f"{field}.accepted")
        non_negative_quantity(got.rejected, f"{field}.rejected")
        if got.accepted + got.rejected == 0:
            raise InvalidInput(ErrorCode.INVALID_QUANTITY, "receive at least one unit", field)
        line = by_sku[got.sku_id]
        if got.accepted + got.rejected > line.outstanding:
            raise InvalidInput(
                ErrorCode.OVER_RECEIPT,
                f"only {line.outstanding} of {line.quantity} units are still expected",
                field,
            )
        by_sku[got.sku_id] = OrderedLine(
            line.sku_id, line.quantity, line.accepted + got.accepted, line.rejected + got.rejected
        )
    updated = [by_sku[line.sku_id] for line in lines]
    target = (
        PurchaseOrderStatus.RECEIVED
        if all(line.outstanding == 0 for line in updated)
        else PurchaseOrderStatus.PARTIALLY_RECEIVED
    )
    return po_transition(status, target), updated


@dataclass(frozen=True)
class DeliveredOrder:
    """What supplier performance looks at of one purchase order."""

    ordered: int
    accepted: int
    rejected: int
    submitted_at: datetime
    expected_at: datetime
    received_at: datetime | None


@dataclass(frozen=True)
class Performance:
    """A supplier's delivery record over a period (rates from 0 to 1)."""

    purchase_orders: int
    on_time_rate: float
    fill_rate: float
    rejection_rate: float
    average_lead_time_days: float


def supplier_performance(orders: Sequence[DeliveredOrder]) -> Performance:
    """On-time rate and lead time over completed orders; fill and rejection rates over all units."""
    completed = [order for order in orders if order.received_at is not None]
    ordered = sum(order.ordered for order in orders)
    accepted = sum(order.accepted for order in orders)
    delivered = accepted + sum(order.rejected for order in orders)
    on_time = sum(1 for order in completed if order.received_at and order.received_at <= order.expected_at)
    lead_days = [
        (order.received_at - order.submitted_at).total_seconds() / 86_400
        for order in completed
        if order.received_at is not None
    ]
    return Performance(
        purchase_orders=len(orders),
        on_time_rate=on_time / len(completed) if completed else 0.0,
        fill_rate=accepted / ordered if ordered else 0.0,
        rejection_rate=(delivered - accepted) / delivered if delivered else 0.0,
        average_lead_time_days=sum(lead_days) / len(lead_days) if lead_days else 0.0,
    )


def demo_initial_stock(sku_id: str) -> int:
    """The demo seed's opening stock of a SKU: 20 to 200 units, the same for the same SKU every time."""
    digest = hashlib.blake2s(sku_id.encode(), digest_size=4).digest()
    return 20 + int.from_bytes(digest, "big") % 181


# --- lots of perishable SKUs ---------------------------------------------------------------------------

LOT_CODE_MAX_LENGTH = 64


@dataclass(frozen=True)
class Lot:
    """One lot of a perishable SKU in one stock line."""

    code: str
    expires_on: date
    on_hand: int
    reserved: int

    @property
    def available(self) -> int:
        """Units of the lot not held for anyone."""
        return self.on_hand - self.reserved

    def expired(self, today: date) -> bool:
        """Whether the lot is past its last day of sale (a lot expiring today still sells today)."""
        return self.expires_on < today


@dataclass(frozen=True)
class LotDelta:
    """How one movement changes one lot."""

    code: str
    expires_on: date
    on_hand_delta: int
    reserved_delta: int


class LotsShort(Exception):
    """The lots of a line do not hold the units a movement takes (e.g. only expired ones are left)."""


def lot_identity(code: str, expiry_date: str, field_prefix: str = "") -> tuple[str, date]:
    """A lot as a request names it: a printable code and an expiry date as YYYY-MM-DD (either may be past).

    ``field_prefix`` (e.g. ``"lines[2]."``) is put before the field names errors report.
    """
    code = code.strip()
    if not code:
        raise InvalidInput(
            ErrorCode.LOT_REQUIRED, "a perishable SKU's units need a lot code", f"{field_prefix}lot_code"
        )
    if not expiry_date.strip():
        raise InvalidInput(
            ErrorCode.LOT_REQUIRED,
            "a perishable SKU's units need an expiry date",
            f"{field_prefix}expiry_date",
        )
    if len(code) > LOT_CODE_MAX_LENGTH or not code.isprintable():
        raise InvalidInput(
            ErrorCode.INVALID_LOT,
            f"must be printable, at most {LOT_CODE_MAX_LENGTH} characters",
            f"{field_prefix}lot_code",
        )
    try:
        expires_on = date.fromisoformat(expiry_date.strip())
    except ValueError:
        raise InvalidInput(
            ErrorCode.INVALID_LOT, "must be a date as YYYY-MM-DD", f"{field_prefix}expiry_date"
        ) from None
    return code, expires_on


def incoming_lot(code: str, expiry_date: str, today: date, field_prefix: str = "") -> tuple[str, date]:
    """The lot of units arriving: a code and an ISO expiry date not in the past."""
    code, expires_on = lot_identity(code, expiry_date, field_prefix)
    if expires_on < today:
        raise InvalidInput(
            ErrorCode.LOT_EXPIRED,
            f"the lot expired on {expires_on.isoformat()}",
            f"{field_prefix}expiry_date",
        )
    return code, expires_on


def fefo(lots: Iterable[Lot]) -> list[Lot]:
    """Lots in first-expired-first-out order (ties by lot code, so the order is stable)."""
    return sorted(lots, key=lambda lot: (lot.expires_on, lot.code))


def _take(
    lots: Iterable[Lot], quantity: int, room: Callable[[Lot], int], on_hand: int, reserved: int
) -> list[LotDelta]:
    """Take ``quantity`` units from ``lots`` in their order, each giving ``room(lot)`` at most."""
    deltas: list[LotDelta] = []
    left = quantity
    for lot in lots:
        if left == 0:
            break
        units = min(left, room(lot))
        if units > 0:
            deltas.append(LotDelta(lot.code, lot.expires_on, on_hand * units, reserved * units))
            left -= units
    if left:
        raise LotsShort(f"{left} of {quantity} units not found in the lots")
    return deltas


def plan_lot_deltas(
    lots: Sequence[Lot], on_hand_delta: int, reserved_delta: int, today: date
) -> list[LotDelta]:
    """Spread a movement of a perishable line over its lots, first expired first out.

    - holding units (a reservation, a campaign hold) takes available units of lots not expired;
    - a sale takes held units, earliest lots first;
    - a release gives back held units, latest lots first (the earliest stay held longest);
    - units leaving without being held (write-off, adjustment, transfer out) leave earliest lots first,
      expired ones included (they are the first to go).

    Units arriving must name their lot: they cannot be planned (``LotsShort``).
    """
    ordered = fefo(lots)
    if on_hand_delta == 0 and reserved_delta > 0:
        sellable = [lot for lot in ordered if not lot.expired(today)]
        return _take(sellable, reserved_delta, lambda lot: lot.available, 0, 1)
    if on_hand_delta == 0 and reserved_delta < 0:
        return _take(reversed(ordered), -reserved_delta, lambda lot: lot.reserved, 0, -1)
    if on_hand_delta < 0 and reserved_delta == on_hand_delta:
        return _take(ordered, -on_hand_delta, lambda lot: lot.reserved, -1, -1)
    if on_hand_delta < 0 and reserved_delta == 0:
        return _take(ordered, -on_hand_delta, lambda lot: lot.available, -1, 0)
    raise LotsShort("units arriving need a lot")


def expired_lots_write_off(lots: Sequence[Lot], today: date) -> list[LotDelta]:
    """Removing every unheld unit of the lots past their date."""
    return [
        LotDelta(lot.code, lot.expires_on, -lot.available, 0)
        for lot in fefo(lots)
        if lot.expired(today) and lot.available > 0
    ]


def lot_count_delta(lots: Sequence[Lot], code: str, expires_on: date, counted: int, today: date) -> LotDelta:
    """The adjustment setting one lot's units on hand to ``counted`` (a lot not in ``lots`` holds none).

    Units found of a lot past its date are refused: expired units never arrive (``LOT_EXPIRED``).
    """
    on_hand = next((lot.on_hand for lot in lots if (lot.code, lot.expires_on) == (code, expires_on)), 0)
    difference = counted - on_hand
    if difference > 0 and expires_on < today:
        raise InvalidInput(
            ErrorCode.LOT_EXPIRED,
            f"the lot expired on {expires_on.isoformat()}: it can be counted down, not up",
            "expiry_date",
        )
    return LotDelta(code, expires_on, difference, 0)
