"""The inventory's rules: quantities, allocation of reservations, availability buckets, reorder maths,
the purchase-order state machine and supplier performance.

Pure Python: no database, transport or proto imports. Stock levels themselves are
never computed here from a read value and written back: the repository moves them
with conditional UPDATEs, and this module decides *what* to move.

Errors raised here (translated into platform errors by the handlers)::

    ValidationFailed        bad values in the request, every one of them (INVALID_ARGUMENT;
                            from ``toko.platform.rules``)
    InventoryRuleError
    ├── NotPossible         the state forbids it (FAILED_PRECONDITION)
    └── InsufficientStock   not enough available for some SKUs (FAILED_PRECONDITION)

Each small rule raises ``ValidationFailed`` naming its one field; the checks of a whole
request (``warehouse_details``, ``stock_change``, ``reservation_request``...) run every rule
that applies and raise what they find together, so a client fixes its request in one round trip.
"""

from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from fractions import Fraction
from functools import partial

from toko.platform.error_codes import CommonReason, ReasonCode
from toko.platform.rules import ValidationFailed, Violation, collect, raise_if
from toko.platform.text import checked_text
from toko.services.inventory.error_codes import ErrorCode

MAX_QUANTITY = 1_000_000
MAX_LINES = 100
DEFAULT_TTL_SECONDS, MAX_TTL_SECONDS = 900, 86_400
NAME_MAX_LENGTH, ADDRESS_MAX_LENGTH, CITY_MAX_LENGTH = 100, 500, 100
REASON_MAX_LENGTH, REFERENCE_MAX_LENGTH = 500, 200
MAX_DAYS = 365
DEFAULT_DEMAND_DAYS = 30
MAX_COST = 100_000_000_000
CURRENCY = "IDR"
SUPPLIER_SKU_MAX_LENGTH = 64


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


class ClaimStatus(StrEnum):
    """Where a flash-sale claim is: held for its buyer until it lapses, or used by a reservation (whose
    release gives its units back to the quota)."""

    HELD = "held"
    USED = "used"
    RELEASED = "released"
    EXPIRED = "expired"


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
    """Base of the errors the inventory's rules raise about the state of things."""

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


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


def broken(field: str, description: str, reason: ReasonCode) -> ValidationFailed:
    """The error of one field breaking one rule."""
    return ValidationFailed([Violation(field, description, reason)])


def positive_quantity(value: int, field: str) -> int:
    """``value`` when it is a whole number of units from 1 to MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_QUANTITY:
        raise broken(field, f"must be a whole number from 1 to {MAX_QUANTITY}", ErrorCode.INVALID_QUANTITY)
    return value


def non_negative_quantity(value: int, field: str, reason: ReasonCode = ErrorCode.INVALID_QUANTITY) -> int:
    """``value`` when it is a whole number from 0 to MAX_QUANTITY."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_QUANTITY:
        raise broken(field, f"must be a whole number from 0 to {MAX_QUANTITY}", reason)
    return value


def required_text(value: str, field: str, max_length: int, reason: ReasonCode) -> str:
    """``value`` cleaned, when something visible is left and it is not too long (``toko.platform.text``)."""
    text, problems = checked_text(value, field, reason, maximum=max_length)
    raise_if(problems)
    return text


def optional_text(value: str, field: str, max_length: int, reason: ReasonCode) -> str:
    """``value`` cleaned, when it is not too long and holds no invisible-only or reordering text."""
    text, problems = checked_text(value, field, reason, maximum=max_length, minimum=0)
    raise_if(problems)
    return text


def valid_reference(value: str, *, required: bool = False) -> str:
    """The order or document reference a request names, stripped."""
    text = value.strip()
    if (required and not text) or len(text) > REFERENCE_MAX_LENGTH:
        raise broken(
            "reference",
            f"must be {int(required)} to {REFERENCE_MAX_LENGTH} characters",
            ErrorCode.INVALID_REFERENCE,
        )
    return text


def adjustment_reason(value: str, field: str = "reason") -> str:
    """The reason of an adjustment or write-off, which the books require."""
    text = value.strip()
    if not text:
        raise broken(field, "say why the stock is corrected", ErrorCode.ADJUSTMENT_REASON_REQUIRED)
    if len(text) > REASON_MAX_LENGTH:
        raise broken(field, f"must be at most {REASON_MAX_LENGTH} characters", ErrorCode.INVALID_REASON)
    return text


def adjustment_delta(value: int, field: str = "delta") -> int:
    """A signed, non-zero change of the quantity on hand."""
    if isinstance(value, bool) or not isinstance(value, int) or value == 0 or abs(value) > MAX_QUANTITY:
        raise broken(
            field, f"must be a non-zero whole number within ±{MAX_QUANTITY}", ErrorCode.INVALID_QUANTITY
        )
    return value


def reservation_ttl(seconds: int) -> timedelta:
    """How long a reservation holds stock; 0 means the default."""
    if seconds == 0:
        return timedelta(seconds=DEFAULT_TTL_SECONDS)
    if not 1 <= seconds <= MAX_TTL_SECONDS:
        raise broken("ttl_seconds", f"must be 1 to {MAX_TTL_SECONDS} seconds", ErrorCode.INVALID_TTL)
    return timedelta(seconds=seconds)


def day_count(value: int, field: str) -> int:
    """A number of days from 0 to MAX_DAYS (payment terms, lead times)."""
    if not 0 <= value <= MAX_DAYS:
        raise broken(field, f"must be 0 to {MAX_DAYS} days", ErrorCode.INVALID_DAYS)
    return value


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


# --- requests -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarehouseDetails:
    """What a warehouse is called and where it is, stripped."""

    name: str
    address: str
    city: str
    kind: WarehouseKind


def warehouse_kind(kind: WarehouseKind | None, *, shop_named: bool) -> WarehouseKind:
    """A known kind of warehouse; a fulfilment centre belongs to no shop."""
    if kind is None:
        raise broken("kind", "unknown warehouse kind", ErrorCode.INVALID_WAREHOUSE_KIND)
    if kind is WarehouseKind.FULFILMENT_CENTRE and shop_named:
        raise broken("shop_id", "a fulfilment centre belongs to no shop", ErrorCode.INVALID_WAREHOUSE_KIND)
    return kind


def warehouse_details(
    *, kind: WarehouseKind | None, shop_named: bool, name: str, address: str, city: str
) -> WarehouseDetails:
    """A new warehouse's details; ``ValidationFailed`` names every bad one."""
    raise_if(
        collect(
            partial(warehouse_kind, kind, shop_named=shop_named),
            partial(required_text, name, "name", NAME_MAX_LENGTH, ErrorCode.INVALID_WAREHOUSE_NAME),
            partial(required_text, city, "city", CITY_MAX_LENGTH, ErrorCode.INVALID_CITY),
            partial(optional_text, address, "address", ADDRESS_MAX_LENGTH, ErrorCode.INVALID_ADDRESS),
        )
    )
    return WarehouseDetails(
        name=name.strip(),
        address=address.strip(),
        city=city.strip(),
        kind=warehouse_kind(kind, shop_named=shop_named),
    )


WAREHOUSE_CHANGES = ("address", "city", "name")


def warehouse_changes(
    mask: Sequence[str], *, name: str, address: str, city: str, prefix: str = "warehouse."
) -> dict[str, str]:
    """The fields an update mask names, checked and stripped; ``ValidationFailed`` names every bad one."""
    if not mask or not set(mask) <= set(WAREHOUSE_CHANGES):
        raise broken(
            "update_mask",
            f"name the fields to change, of: {', '.join(WAREHOUSE_CHANGES)}",
            CommonReason.INVALID_UPDATE_MASK,
        )
    rules: dict[str, Callable[[], str]] = {
        "name": partial(
            required_text, name, f"{prefix}name", NAME_MAX_LENGTH, ErrorCode.INVALID_WAREHOUSE_NAME
        ),
        "city": partial(required_text, city, f"{prefix}city", CITY_MAX_LENGTH, ErrorCode.INVALID_CITY),
        "address": partial(
            optional_text, address, f"{prefix}address", ADDRESS_MAX_LENGTH, ErrorCode.INVALID_ADDRESS
        ),
    }
    named = [field for field in rules if field in mask]
    raise_if(collect(*(rules[field] for field in named)))
    return {field: rules[field]() for field in named}


@dataclass(frozen=True)
class ChangeOfStock:
    """A movement of one stock line a client asks for, checked: how on hand changes, why, and the lot
    of units arriving (when named)."""

    on_hand_delta: int
    reference: str = ""
    reason: str = ""
    lots: tuple[LotDelta, ...] = ()


_NEEDS_A_REASON = (MovementKind.ADJUSTMENT, MovementKind.WRITE_OFF)


def stock_change(
    kind: MovementKind,
    *,
    quantity: int,
    today: date,
    reference: str = "",
    reason: str = "",
    lot_code: str = "",
    expiry_date: str = "",
) -> ChangeOfStock:
    """A receipt, return, adjustment or write-off as a client asks for it; ``ValidationFailed`` names
    every bad field.

    Receipts and returns bring a positive quantity and may name a reference; an adjustment is a
    signed ``delta``, and it and a write-off need the reason the books require. Units arriving may
    name their lot, which must not be past its date (a perishable SKU's must name one: the movement
    finds out).
    """
    adjusting = kind is MovementKind.ADJUSTMENT
    arriving = kind in (MovementKind.RECEIPT, MovementKind.RETURN_TO_STOCK) or (adjusting and quantity > 0)
    raise_if(
        collect(
            partial(adjustment_delta, quantity)
            if adjusting
            else partial(positive_quantity, quantity, "quantity"),
            partial(adjustment_reason, reason)
            if kind in _NEEDS_A_REASON
            else partial(valid_reference, reference),
            partial(incoming_lot, lot_code, expiry_date, today)
            if arriving and (lot_code or expiry_date)
            else _none,
        )
    )
    on_hand_delta = -quantity if kind is MovementKind.WRITE_OFF else quantity
    lots: tuple[LotDelta, ...] = ()
    if arriving and (lot_code or expiry_date):
        code, expires_on = incoming_lot(lot_code, expiry_date, today)
        lots = (LotDelta(code, expires_on, on_hand_delta, 0),)
    if kind in _NEEDS_A_REASON:
        return ChangeOfStock(on_hand_delta, reason=reason.strip(), lots=lots)
    return ChangeOfStock(on_hand_delta, reference=reference.strip(), lots=lots)


def _none() -> None:
    """A rule that nothing breaks, for a field with nothing to check."""


@dataclass(frozen=True)
class StockCount:
    """A stock count, checked: the units found, why, and the lot counted (a perishable SKU's)."""

    counted: int
    reason: str
    lot: tuple[str, date] | None


def stock_count(*, counted: int, reason: str, lot_code: str, expiry_date: str) -> StockCount:
    """A count as a client records it; ``ValidationFailed`` names every bad field."""
    named = bool(lot_code or expiry_date)
    raise_if(
        collect(
            partial(non_negative_quantity, counted, "counted"),
            partial(optional_text, reason, "reason", REASON_MAX_LENGTH, ErrorCode.INVALID_REASON),
            partial(lot_identity, lot_code, expiry_date) if named else _none,
        )
    )
    return StockCount(counted, reason.strip(), lot_identity(lot_code, expiry_date) if named else None)


def check_stock_policy(*, safety_stock: int, reorder_point: int) -> None:
    """Raise ``ValidationFailed`` naming each of a line's safety stock and reorder point that is bad."""
    raise_if(
        collect(
            partial(non_negative_quantity, safety_stock, "safety_stock", ErrorCode.INVALID_STOCK_POLICY),
            partial(non_negative_quantity, reorder_point, "reorder_point", ErrorCode.INVALID_STOCK_POLICY),
        )
    )


def distinct_warehouses(from_warehouse_id: str, to_warehouse_id: str) -> None:
    """A transfer goes from one warehouse to another."""
    if from_warehouse_id and from_warehouse_id == to_warehouse_id:
        raise broken(
            "to_warehouse_id", "must differ from from_warehouse_id", ErrorCode.SAME_WAREHOUSE_TRANSFER
        )


def transfer_quantity(*, from_warehouse_id: str, to_warehouse_id: str, quantity: int) -> int:
    """The units a transfer between two warehouses moves; ``ValidationFailed`` names every bad field."""
    raise_if(
        collect(
            partial(distinct_warehouses, from_warehouse_id, to_warehouse_id),
            partial(positive_quantity, quantity, "quantity"),
        )
    )
    return quantity


@dataclass(frozen=True)
class ReservationRequest:
    """A reservation as asked for, checked: its reference, lines, how long it holds, the buyer's city."""

    reference: str
    lines: tuple[Line, ...]
    ttl: timedelta
    buyer_city: str


def reservation_request(
    *, reference: str, lines: Sequence[Line], ttl_seconds: int, buyer_city: str
) -> ReservationRequest:
    """A reservation as the order service asks for it; ``ValidationFailed`` names every bad field."""
    raise_if(
        collect(
            partial(valid_reference, reference, required=True),
            partial(validate_lines, lines),
            partial(reservation_ttl, ttl_seconds),
            partial(optional_text, buyer_city, "buyer_city", CITY_MAX_LENGTH, ErrorCode.INVALID_CITY),
        )
    )
    return ReservationRequest(
        reference=reference.strip(),
        lines=tuple(lines),
        ttl=reservation_ttl(ttl_seconds),
        buyer_city=buyer_city.strip(),
    )


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
    # The buyer's flash-sale claim the line is bought with: its units come from the campaign's quota.
    claim_id: str = ""


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
    claim_id: str | None = None


def validate_lines(lines: Sequence[Line]) -> tuple[Line, ...]:
    """Lines with positive quantities, at most MAX_LINES, each SKU once; ``ValidationFailed`` names every
    bad line."""
    if not lines:
        raise broken("lines", "ask for at least one SKU", ErrorCode.NO_LINES)
    if len(lines) > MAX_LINES:
        raise broken("lines", f"at most {MAX_LINES} lines", ErrorCode.TOO_MANY_LINES)
    found: list[Violation] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        found += collect(partial(positive_quantity, line.quantity, f"lines[{index}].quantity"))
        if line.sku_id in seen:
            found.append(
                Violation(f"lines[{index}].sku_id", "each SKU once per request", ErrorCode.DUPLICATE_SKU)
            )
        seen.add(line.sku_id)
    raise_if(found)
    return tuple(lines)


def lines_digest(lines: Iterable[Line]) -> str:
    """A digest of the lines that ignores their order, to tell a retry from a reused reference."""
    canonical = ";".join(
        f"{line.sku_id}:{line.quantity}" + (f":{line.claim_id}" if line.claim_id else "")
        for line in sorted(lines, key=lambda x: x.sku_id)
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def plan_return(
    lines: Sequence[Line], sold: Sequence[Allocated], returned_before: Sequence[Allocated]
) -> list[Allocated]:
    """Where units a reservation sold go back: to the stock lines that sold them, in order, each never
    above what it sold less what went back before. Raises ``NotPossible`` naming a SKU asked back beyond."""
    left: dict[tuple[str, str], int] = defaultdict(int)
    for allocation in sold:
        left[(allocation.stock_id, allocation.sku_id)] += allocation.quantity
    for allocation in returned_before:
        left[(allocation.stock_id, allocation.sku_id)] -= allocation.quantity
    plan: list[Allocated] = []
    for line in lines:
        wanted = line.quantity
        for allocation in sold:
            key = (allocation.stock_id, allocation.sku_id)
            if allocation.sku_id != line.sku_id or left[key] <= 0 or wanted == 0:
                continue
            taken = min(left[key], wanted)
            left[key] -= taken
            wanted -= taken
            plan.append(Allocated(allocation.stock_id, line.sku_id, allocation.warehouse_id, taken))
        if wanted:
            raise NotPossible(
                ErrorCode.RETURN_EXCEEDS_SOLD,
                f"SKU {line.sku_id}: {line.quantity} asked back, "
                f"only {line.quantity - wanted} sold and not returned yet",
            )
    return plan


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


def flash_sale_window(
    starts: datetime | None, ends: datetime | None, now: datetime
) -> tuple[datetime, datetime]:
    """A campaign's claim window, which must be set, end after it starts, and not be over already."""
    if starts is None or ends is None:
        raise broken("start_time", "set start_time and end_time", ErrorCode.INVALID_TIME_WINDOW)
    if ends <= starts:
        raise broken("end_time", "must end after it starts", ErrorCode.INVALID_TIME_WINDOW)
    if ends <= now:
        raise broken("end_time", "is already over", ErrorCode.INVALID_TIME_WINDOW)
    return starts, ends


def per_buyer_limit(value: int, quota: int) -> int:
    """How many units one buyer may claim: at least 1, at most the quota."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= quota:
        raise broken(
            "per_buyer_limit", "must be at least 1 and at most the quota", ErrorCode.INVALID_PER_BUYER_LIMIT
        )
    return value


@dataclass(frozen=True)
class FlashSaleTerms:
    """A campaign's quota of a SKU, checked: its units, the most one buyer may claim, and its window."""

    quota: int
    per_buyer_limit: int
    starts: datetime
    ends: datetime


def flash_sale_terms(
    *, quantity: int, limit: int, starts: datetime | None, ends: datetime | None, now: datetime
) -> FlashSaleTerms:
    """A quota as a seller or campaign sets it; ``ValidationFailed`` names every bad field.

    The per-buyer limit is held to the quota when the quota itself is good.
    """
    quota_known = not collect(partial(positive_quantity, quantity, "quantity"))
    raise_if(
        collect(
            partial(positive_quantity, quantity, "quantity"),
            partial(per_buyer_limit, limit, quantity if quota_known else MAX_QUANTITY),
            partial(flash_sale_window, starts, ends, now),
        )
    )
    window = flash_sale_window(starts, ends, now)
    return FlashSaleTerms(quota=quantity, per_buyer_limit=limit, starts=window[0], ends=window[1])


# --- reordering ---------------------------------------------------------------------------------------------


def demand_days(value: int) -> int:
    """The days of sales a reorder suggestion looks back over; 0 means the default."""
    looked_back = value or DEFAULT_DEMAND_DAYS
    if not 1 <= looked_back <= MAX_DAYS:
        raise broken("demand_days", f"must be 1 to {MAX_DAYS}", ErrorCode.INVALID_DAYS)
    return looked_back


def average_daily_demand(units_sold: int, days: int) -> Fraction:
    """Units sold per day over ``days`` days, exactly."""
    if days < 1:
        raise broken("demand_days", "must be at least one day", ErrorCode.INVALID_DAYS)
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
    """The status and lines after a goods receipt; refuses receiving more than was ordered.

    ``ValidationFailed`` names every bad line of the receipt.
    """
    if status not in (PurchaseOrderStatus.SUBMITTED, PurchaseOrderStatus.PARTIALLY_RECEIVED):
        raise NotPossible(
            ErrorCode.INVALID_PO_TRANSITION, f"goods cannot be received on a {status.value} purchase order"
        )
    if not receipt:
        raise broken("lines", "name at least one line received", ErrorCode.NO_LINES)
    by_sku = {line.sku_id: line for line in lines}
    found: list[Violation] = []
    seen: set[str] = set()
    for index, got in enumerate(receipt):
        field = f"lines[{index}]"
        if got.sku_id not in by_sku:
            found.append(
                Violation(f"{field}.sku_id", "this SKU is not on the order", ErrorCode.SKU_NOT_ON_ORDER)
            )
            continue
        if got.sku_id in seen:
            found.append(Violation(f"{field}.sku_id", "each SKU once per receipt", ErrorCode.DUPLICATE_SKU))
            continue
        seen.add(got.sku_id)
        counts = collect(
            partial(non_negative_quantity, got.accepted, f"{field}.accepted"),
            partial(non_negative_quantity, got.rejected, f"{field}.rejected"),
        )
        line = by_sku[got.sku_id]
        if counts:
            found += counts
        elif got.accepted + got.rejected == 0:
            found.append(Violation(field, "receive at least one unit", ErrorCode.INVALID_QUANTITY))
        elif got.accepted + got.rejected > line.outstanding:
            found.append(
                Violation(
                    field,
                    f"only {line.outstanding} of {line.quantity} units are still expected",
                    ErrorCode.OVER_RECEIPT,
                )
            )
        else:
            by_sku[got.sku_id] = OrderedLine(
                line.sku_id, line.quantity, line.accepted + got.accepted, line.rejected + got.rejected
            )
    raise_if(found)
    updated = [by_sku[line.sku_id] for line in lines]
    target = (
        PurchaseOrderStatus.RECEIVED
        if all(line.outstanding == 0 for line in updated)
        else PurchaseOrderStatus.PARTIALLY_RECEIVED
    )
    return po_transition(status, target), updated


def receipt_lots(receipt: Sequence[ReceivedLine], today: date) -> dict[int, tuple[str, date]]:
    """The lot each line accepting units names, by line (a line accepting nothing brings no lot);
    ``ValidationFailed`` names every bad one."""
    named = {
        index: partial(incoming_lot, got.lot_code, got.expiry_date, today, f"lines[{index}].")
        for index, got in enumerate(receipt)
        if got.accepted > 0 and (got.lot_code or got.expiry_date)
    }
    raise_if(collect(*named.values()))
    return {index: lot() for index, lot in named.items()}


@dataclass(frozen=True)
class OrderLine:
    """A SKU to order; a zero cost takes the supplier's catalogue price."""

    sku_id: str
    quantity: int
    unit_cost: int = 0


def check_order_lines(lines: Sequence[OrderLine]) -> None:
    """Raise ``ValidationFailed`` naming every bad line of a purchase order: at least one, each SKU once."""
    if not lines:
        raise broken("lines", "order at least one SKU", ErrorCode.NO_LINES)
    found: list[Violation] = []
    seen: set[str] = set()
    for index, line in enumerate(lines):
        found += collect(partial(positive_quantity, line.quantity, f"lines[{index}].quantity"))
        if line.sku_id in seen:
            found.append(
                Violation(f"lines[{index}].sku_id", "each SKU once per order", ErrorCode.DUPLICATE_SKU)
            )
        if not 0 <= line.unit_cost <= MAX_COST:
            found.append(Violation(f"lines[{index}].unit_cost", "out of range", ErrorCode.INVALID_COST_PRICE))
        seen.add(line.sku_id)
    raise_if(found)


@dataclass(frozen=True)
class SupplierDetails:
    """A supplier's name, contacts and terms, checked and stripped."""

    name: str
    contact_name: str
    contact_email: str
    contact_phone: str
    payment_terms_days: int
    lead_time_days: int


def supplier_details(
    *,
    name: str,
    contact_name: str,
    contact_email: str,
    contact_phone: str,
    payment_terms_days: int,
    lead_time_days: int,
) -> SupplierDetails:
    """A new supplier as a seller describes it; ``ValidationFailed`` names every bad field."""
    contacts = {"contact_name": contact_name, "contact_email": contact_email, "contact_phone": contact_phone}
    raise_if(
        collect(
            partial(required_text, name, "name", NAME_MAX_LENGTH, ErrorCode.INVALID_SUPPLIER_NAME),
            *(
                partial(optional_text, value, field, NAME_MAX_LENGTH, CommonReason.VALIDATION_FAILED)
                for field, value in contacts.items()
            ),
            partial(day_count, payment_terms_days, "payment_terms_days"),
            partial(day_count, lead_time_days, "lead_time_days"),
        )
    )
    return SupplierDetails(
        name=name.strip(),
        contact_name=contact_name.strip(),
        contact_email=contact_email.strip(),
        contact_phone=contact_phone.strip(),
        payment_terms_days=payment_terms_days,
        lead_time_days=lead_time_days,
    )


def cost_price(amount: int, currency: str, field: str) -> int:
    """A supplier's price of one unit, in minor units of the one currency (blank means it)."""
    if not 0 <= amount <= MAX_COST or (currency or CURRENCY) != CURRENCY:
        raise broken(field, f"must be 0 to {MAX_COST} {CURRENCY}", ErrorCode.INVALID_COST_PRICE)
    return amount


def supplier_sku(
    *, code: str, cost_amount: int, currency: str, min_order_quantity: int, prefix: str = "item."
) -> str:
    """A supplier catalogue line's own SKU code, stripped, once the whole line is checked;
    ``ValidationFailed`` names every bad field."""
    raise_if(
        collect(
            partial(
                required_text,
                code,
                f"{prefix}supplier_sku",
                SUPPLIER_SKU_MAX_LENGTH,
                ErrorCode.INVALID_SUPPLIER_SKU,
            ),
            partial(positive_quantity, min_order_quantity, f"{prefix}min_order_quantity"),
            partial(cost_price, cost_amount, currency, f"{prefix}cost_price"),
        )
    )
    return code.strip()


def check_period(start: datetime, end: datetime) -> None:
    """A period of time ends after it starts."""
    if end <= start:
        raise broken("end_time", "must be after start_time", ErrorCode.INVALID_PERIOD)


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


def lot_code(code: str, field: str) -> str:
    """A lot's code as a request names it: printable, stripped, not too long."""
    text = code.strip()
    if not text:
        raise broken(field, "a perishable SKU's units need a lot code", ErrorCode.LOT_REQUIRED)
    if len(text) > LOT_CODE_MAX_LENGTH or not text.isprintable():
        raise broken(
            field, f"must be printable, at most {LOT_CODE_MAX_LENGTH} characters", ErrorCode.INVALID_LOT
        )
    return text


def expiry_date_of(value: str, field: str) -> date:
    """A lot's expiry date as a request names it: YYYY-MM-DD."""
    if not value.strip():
        raise broken(field, "a perishable SKU's units need an expiry date", ErrorCode.LOT_REQUIRED)
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise broken(field, "must be a date as YYYY-MM-DD", ErrorCode.INVALID_LOT) from None


def lot_identity(code: str, expiry_date: str, field_prefix: str = "") -> tuple[str, date]:
    """A lot as a request names it: a printable code and an expiry date as YYYY-MM-DD (either may be past).

    ``field_prefix`` (e.g. ``"lines[2]."``) is put before the field names errors report;
    ``ValidationFailed`` names both fields when both are bad.
    """
    raise_if(
        collect(
            partial(lot_code, code, f"{field_prefix}lot_code"),
            partial(expiry_date_of, expiry_date, f"{field_prefix}expiry_date"),
        )
    )
    return lot_code(code, f"{field_prefix}lot_code"), expiry_date_of(
        expiry_date, f"{field_prefix}expiry_date"
    )


def incoming_lot(code: str, expiry_date: str, today: date, field_prefix: str = "") -> tuple[str, date]:
    """The lot of units arriving: a code and an ISO expiry date not in the past."""
    code, expires_on = lot_identity(code, expiry_date, field_prefix)
    if expires_on < today:
        raise broken(
            f"{field_prefix}expiry_date",
            f"the lot expired on {expires_on.isoformat()}",
            ErrorCode.LOT_EXPIRED,
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
        raise broken(
            "expiry_date",
            f"the lot expired on {expires_on.isoformat()}: it can be counted down, not up",
            ErrorCode.LOT_EXPIRED,
        )
    return LotDelta(code, expires_on, difference, 0)
