"""The shipping service's domain: couriers, parcels and their chargeable weight, rates, and shipments.

Pure Python: no database, transport or proto imports (an import-linter contract keeps it so). A
broken rule raises ``toko.platform.rules.ValidationFailed`` with every violation found; the
handlers turn it into INVALID_ARGUMENT.

- ``COURIERS``: the couriers toko books with, their services, how each rounds a parcel's weight
  (``WeightRounding``), what it charges to insure a value, and the words it reports a parcel's
  whereabouts in (``status_of`` normalises them to ``Status``).
- ``Parcel``: what goes in a box, with its actual, volumetric and chargeable weight.
- ``Status`` and ``next_status``: the one status set of every courier and the moves it allows.
- ``SlotHold`` and ``hold_request``: a delivery slot's place kept for a checkout, and how one is asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum, IntEnum

from toko.platform.rules import Violation, raise_if
from toko.platform.text import checked_text
from toko.services.shipping.error_codes import ErrorCode

CURRENCY = "IDR"
# Volumetric weight divides a volume in cm³ by 6000 to get kg: in mm³ and grams that is mm³ / 6000.
VOLUMETRIC_DIVISOR = 6000
MAX_ITEMS = 100
MAX_UNIT_WEIGHT_GRAMS = 50_000
MAX_DIMENSION_MM = 2_000
MAX_QUANTITY = 999
MAX_UNIT_VALUE = 1_000_000_000_000
MAX_PLACE_FIELD_LENGTH = 100
MAX_COURIER_FILTER = 10
MAX_SLOT_ID_LENGTH = 200
MAX_HOLD_REFERENCE_LENGTH = 200
DEFAULT_HOLD_TTL = timedelta(days=1)
MIN_HOLD_TTL_SECONDS = 60
MAX_HOLD_TTL_SECONDS = 604_800
POSTAL_CODE = re.compile(r"[0-9]{5}")


class Level(IntEnum):
    """How fast a service delivers (the proto's ``ServiceLevel`` numbers)."""

    ECONOMY = 1
    REGULAR = 2
    EXPRESS = 3
    SAME_DAY = 4
    INSTANT = 5


class Status(IntEnum):
    """Where a parcel is, the same for every courier (the proto's ``ShipmentStatus`` numbers)."""

    BOOKED = 1
    PICKED_UP = 2
    IN_TRANSIT = 3
    OUT_FOR_DELIVERY = 4
    DELIVERED = 5
    FAILED_ATTEMPT = 6
    RETURNED_TO_SENDER = 7


TERMINAL = frozenset({Status.DELIVERED, Status.RETURNED_TO_SENDER})
# The forward path; a failed attempt or a return may interrupt it anywhere before the end.
_PROGRESS = (Status.BOOKED, Status.PICKED_UP, Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED)
_INTERRUPTIONS = frozenset({Status.FAILED_ATTEMPT, Status.RETURNED_TO_SENDER})
_AFTER_FAILED_ATTEMPT = frozenset(
    {Status.IN_TRANSIT, Status.OUT_FOR_DELIVERY, Status.DELIVERED, Status.RETURNED_TO_SENDER}
)


def next_status(current: Status, reported: Status) -> Status | None:
    """The status a shipment moves to when its courier reports ``reported``, or None to stay put.

    A delivered or returned parcel stays so; a report older than what is known (in transit after
    out for delivery: webhooks and polls arrive out of order) changes nothing; after a failed
    attempt the courier may carry on, deliver or return the parcel.
    """
    if current in TERMINAL or reported == current:
        return None
    if reported in _INTERRUPTIONS:
        return reported
    if current == Status.FAILED_ATTEMPT:
        return reported if reported in _AFTER_FAILED_ATTEMPT else None
    return reported if _PROGRESS.index(reported) > _PROGRESS.index(current) else None


class WeightRounding(Enum):
    """How a courier rounds a parcel's chargeable weight to the kilograms it charges."""

    WHOLE_KG_WITH_TOLERANCE = "whole kg, up past 0.3 kg"
    WHOLE_KG_UP = "whole kg, up"

    def charged_grams(self, grams: int) -> int:
        """The weight charged for ``grams``, at least one kilogram.

        - ``WHOLE_KG_WITH_TOLERANCE`` (JNE, J&T, SiCepat): whole kilograms, a fraction up to 0.3 kg
          dropped and one above it rounded up (1.3 kg is charged as 1 kg, 1.31 kg as 2 kg).
        - ``WHOLE_KG_UP`` (AnterAja, GoSend): whole kilograms, any fraction rounded up (1.01 kg is
          charged as 2 kg).
        """
        whole, fraction = divmod(grams, 1000)
        tolerance = 300 if self is WeightRounding.WHOLE_KG_WITH_TOLERANCE else 0
        return max(whole + (1 if fraction > tolerance else 0), 1) * 1000


@dataclass(frozen=True)
class Service:
    """One product of a courier, e.g. JNE REG."""

    code: str
    name: str
    level: Level
    cod_supported: bool = False

    @property
    def slotted(self) -> bool:
        """Whether the buyer picks a delivery time slot (instant and same-day services)."""
        return self.level in (Level.SAME_DAY, Level.INSTANT)


@dataclass(frozen=True)
class Courier:
    """A delivery company toko books with, and the rules it charges and reports by."""

    code: str
    name: str
    services: tuple[Service, ...]
    rounding: WeightRounding
    # The courier's own status words (webhooks and tracking) and the status each means.
    statuses: Mapping[str, Status]
    # Insurance: per mille of the declared value plus a fixed fee; zero per mille when it does not insure.
    insurance_per_mille: int = 0
    insurance_fee: int = 0
    # The heaviest parcel it carries, in grams (a motorbike courier's box).
    max_weight_grams: int = 0

    def service(self, code: str) -> Service | None:
        """Its service ``code``, or None."""
        return next((service for service in self.services if service.code == code), None)

    def status_of(self, word: str) -> Status | None:
        """The normalised status of one of its status words (case and spacing ignored), or None."""
        return self._normalised_statuses.get(_status_key(word))

    @property
    def _normalised_statuses(self) -> dict[str, Status]:
        return {_status_key(word): status for word, status in self.statuses.items()}

    def insurance_for(self, value: int) -> int:
        """What it charges to insure ``value`` (whole rupiah, rounded up); zero for nothing to insure."""
        if value <= 0 or self.insurance_per_mille == 0:
            return 0
        return math.ceil(value * self.insurance_per_mille / 1000) + self.insurance_fee


def _status_key(word: str) -> str:
    return " ".join(word.upper().split())


COURIERS: tuple[Courier, ...] = (
    Courier(
        code="jne",
        name="JNE",
        services=(
            Service("OKE", "JNE OKE", Level.ECONOMY, cod_supported=True),
            Service("REG", "JNE Reguler", Level.REGULAR, cod_supported=True),
            Service("YES", "JNE YES", Level.EXPRESS),
        ),
        rounding=WeightRounding.WHOLE_KG_WITH_TOLERANCE,
        statuses={
            "MANIFESTED": Status.BOOKED,
            "RECEIVED AT ORIGIN": Status.PICKED_UP,
            "ON TRANSIT": Status.IN_TRANSIT,
            "WITH DELIVERY COURIER": Status.OUT_FOR_DELIVERY,
            "DELIVERED": Status.DELIVERED,
            "UNDELIVERED": Status.FAILED_ATTEMPT,
            "RETURNED TO SHIPPER": Status.RETURNED_TO_SENDER,
        },
        insurance_per_mille=2,
        insurance_fee=5000,
    ),
    Courier(
        code="jnt",
        name="J&T Express",
        services=(Service("EZ", "J&T EZ", Level.REGULAR, cod_supported=True),),
        rounding=WeightRounding.WHOLE_KG_WITH_TOLERANCE,
        statuses={
            "Manifes": Status.BOOKED,
            "Pick Up": Status.PICKED_UP,
            "Departure": Status.IN_TRANSIT,
            "Arrival": Status.IN_TRANSIT,
            "On Delivery": Status.OUT_FOR_DELIVERY,
            "Delivered": Status.DELIVERED,
            "Problem": Status.FAILED_ATTEMPT,
            "Return": Status.RETURNED_TO_SENDER,
        },
        insurance_per_mille=2,
    ),
    Courier(
        code="sicepat",
        name="SiCepat",
        services=(
            Service("GOKIL", "SiCepat GOKIL (kargo)", Level.ECONOMY),
            Service("REG", "SiCepat Reguler", Level.REGULAR, cod_supported=True),
            Service("BEST", "SiCepat BEST", Level.EXPRESS),
        ),
        rounding=WeightRounding.WHOLE_KG_WITH_TOLERANCE,
        statuses={
            "PICKREQ": Status.BOOKED,
            "PICK": Status.PICKED_UP,
            "IN": Status.IN_TRANSIT,
            "OUT": Status.IN_TRANSIT,
            "ANT": Status.OUT_FOR_DELIVERY,
            "DELIVERED": Status.DELIVERED,
            "BA": Status.FAILED_ATTEMPT,
            "RETUR PUSAT": Status.RETURNED_TO_SENDER,
        },
        insurance_per_mille=3,
    ),
    Courier(
        code="anteraja",
        name="AnterAja",
        services=(
            Service("REG", "AnterAja Reguler", Level.REGULAR, cod_supported=True),
            Service("ND", "AnterAja Next Day", Level.EXPRESS),
        ),
        rounding=WeightRounding.WHOLE_KG_UP,
        statuses={
            "100": Status.BOOKED,
            "200": Status.PICKED_UP,
            "300": Status.IN_TRANSIT,
            "400": Status.OUT_FOR_DELIVERY,
            "500": Status.DELIVERED,
            "600": Status.FAILED_ATTEMPT,
            "700": Status.RETURNED_TO_SENDER,
        },
        insurance_per_mille=2,
    ),
    Courier(
        code="gosend",
        name="GoSend",
        services=(
            Service("INSTANT", "GoSend Instant", Level.INSTANT),
            Service("SAMEDAY", "GoSend Same Day", Level.SAME_DAY),
        ),
        rounding=WeightRounding.WHOLE_KG_UP,
        statuses={
            "confirmed": Status.BOOKED,
            "picked": Status.PICKED_UP,
            "enroute_drop": Status.IN_TRANSIT,
            "near_drop": Status.OUT_FOR_DELIVERY,
            "delivered": Status.DELIVERED,
            "delivery_failed": Status.FAILED_ATTEMPT,
            "returned": Status.RETURNED_TO_SENDER,
        },
        max_weight_grams=20_000,
    ),
)
COURIER_CODES = tuple(courier.code for courier in COURIERS)


def find_courier(code: str) -> Courier | None:
    """The courier ``code``, or None."""
    return next((courier for courier in COURIERS if courier.code == code), None)


# ---- places and parcels -------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """Where a parcel starts or ends: province, city or regency, district (kecamatan), postal code."""

    province: str = ""
    city: str = ""
    district: str = ""
    postal_code: str = ""


@dataclass(frozen=True)
class Item:
    """One line of a parcel: one unit's packed weight (g), size (mm; 0 unknown) and value, and how many."""

    weight_grams: int
    length_mm: int
    width_mm: int
    height_mm: int
    quantity: int
    unit_value: int = 0
    currency: str = CURRENCY


@dataclass(frozen=True)
class Parcel:
    """What goes in one box."""

    items: tuple[Item, ...]

    @property
    def actual_grams(self) -> int:
        """The weight on the scale."""
        return sum(item.weight_grams * item.quantity for item in self.items)

    @property
    def volumetric_grams(self) -> int:
        """LxWxH/6000 of every unit (cm and kg), in grams rounded up; an unknown size counts zero."""
        volume_mm3 = sum(
            item.length_mm * item.width_mm * item.height_mm * item.quantity for item in self.items
        )
        return -(-volume_mm3 // VOLUMETRIC_DIVISOR)

    @property
    def value(self) -> int:
        """The declared value of everything in it."""
        return sum(item.unit_value * item.quantity for item in self.items)

    def chargeable_grams(self, courier: Courier) -> int:
        """The weight ``courier`` charges: the larger of actual and volumetric, rounded by its rule."""
        return courier.rounding.charged_grams(max(self.actual_grams, self.volumetric_grams))


@dataclass(frozen=True)
class RateQuery:
    """A checked request for rates: the route, the parcel, and which couriers and services to ask."""

    origin: Place
    destination: Place
    parcel: Parcel
    cod: bool
    couriers: tuple[Courier, ...]


def rate_query(
    *, origin: Place, destination: Place, items: Sequence[Item], cod: bool, couriers: Sequence[str]
) -> RateQuery:
    """The query, its text cleaned; ``ValidationFailed`` naming every field at fault."""
    clean_origin, origin_violations = checked_place(origin, "origin", district_required=False)
    clean_destination, destination_violations = checked_place(
        destination, "destination", district_required=True
    )
    violations = [*origin_violations, *destination_violations, *_item_violations(items)]
    chosen: list[Courier] = []
    if len(couriers) > MAX_COURIER_FILTER:
        violations.append(
            Violation(
                "couriers", f"must name at most {MAX_COURIER_FILTER} couriers", ErrorCode.UNKNOWN_COURIER
            )
        )
    for index, code in enumerate(couriers[:MAX_COURIER_FILTER]):
        courier = find_courier(code)
        if courier is None:
            violations.append(
                Violation(
                    f"couriers[{index}]",
                    f"must be one of {', '.join(COURIER_CODES)}",
                    ErrorCode.UNKNOWN_COURIER,
                )
            )
        elif courier not in chosen:
            chosen.append(courier)
    raise_if(violations)
    return RateQuery(
        origin=clean_origin,
        destination=clean_destination,
        parcel=Parcel(tuple(items)),
        cod=cod,
        couriers=tuple(chosen) or COURIERS,
    )


def checked_place(place: Place, path: str, *, district_required: bool) -> tuple[Place, list[Violation]]:
    """``place`` with its names cleaned, and what is wrong with it: the city is always required; the
    province and district only where a parcel goes (an origin is known by its city, as a shop's is)."""
    province, bad_province = checked_text(
        place.province,
        f"{path}.province",
        ErrorCode.INVALID_PLACE,
        maximum=MAX_PLACE_FIELD_LENGTH,
        minimum=1 if district_required else 0,
    )
    city, bad_city = checked_text(
        place.city, f"{path}.city", ErrorCode.INVALID_PLACE, maximum=MAX_PLACE_FIELD_LENGTH
    )
    district, bad_district = checked_text(
        place.district,
        f"{path}.district",
        ErrorCode.INVALID_PLACE,
        maximum=MAX_PLACE_FIELD_LENGTH,
        minimum=1 if district_required else 0,
    )
    postal_code = place.postal_code.strip()
    bad_postal_code = (
        [Violation(f"{path}.postal_code", "must be five digits", ErrorCode.INVALID_PLACE)]
        if postal_code and not POSTAL_CODE.fullmatch(postal_code)
        else []
    )
    return (
        Place(province=province, city=city, district=district, postal_code=postal_code),
        [*bad_province, *bad_city, *bad_district, *bad_postal_code],
    )


def _item_violations(items: Sequence[Item]) -> list[Violation]:
    if not 1 <= len(items) <= MAX_ITEMS:
        return [Violation("items", f"must hold 1 to {MAX_ITEMS} lines", ErrorCode.INVALID_PARCEL)]
    found: list[Violation] = []
    for index, item in enumerate(items):
        path = f"items[{index}]"
        if not 1 <= item.weight_grams <= MAX_UNIT_WEIGHT_GRAMS:
            found.append(
                Violation(
                    f"{path}.weight_grams",
                    f"must be 1 to {MAX_UNIT_WEIGHT_GRAMS:,} grams",
                    ErrorCode.INVALID_PARCEL,
                )
            )
        for name, size in (
            ("length_mm", item.length_mm),
            ("width_mm", item.width_mm),
            ("height_mm", item.height_mm),
        ):
            if not 0 <= size <= MAX_DIMENSION_MM:
                found.append(
                    Violation(
                        f"{path}.{name}", f"must be 0 to {MAX_DIMENSION_MM:,} mm", ErrorCode.INVALID_PARCEL
                    )
                )
        if not 1 <= item.quantity <= MAX_QUANTITY:
            found.append(
                Violation(f"{path}.quantity", f"must be 1 to {MAX_QUANTITY}", ErrorCode.INVALID_PARCEL)
            )
        if not 0 <= item.unit_value <= MAX_UNIT_VALUE:
            found.append(
                Violation(
                    f"{path}.unit_value.amount", f"must be 0 to {MAX_UNIT_VALUE:,}", ErrorCode.INVALID_PARCEL
                )
            )
        if item.currency != CURRENCY:
            found.append(
                Violation(f"{path}.unit_value.currency", f"must be {CURRENCY}", ErrorCode.INVALID_PARCEL)
            )
    return found


# ---- rates --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CourierRate:
    """One service's price as its courier answered, in the one shape every adapter returns."""

    service: str
    price: int
    etd_min_days: int
    etd_max_days: int
    cod_available: bool


@dataclass(frozen=True)
class Rate:
    """A quoted rate, kept under ``id`` until ``expires_at`` so checkout can cite it."""

    id: str
    courier: str
    service: str
    service_name: str
    level: Level
    price: int
    chargeable_grams: int
    etd_min_days: int
    etd_max_days: int
    cod_available: bool
    insurance_fee: int
    slotted: bool
    origin: Place
    destination: Place
    created_at: datetime
    expires_at: datetime
    currency: str = CURRENCY

    def expired(self, now: datetime) -> bool:
        """Whether it no longer holds."""
        return now >= self.expires_at


def priced_rates(
    *,
    courier: Courier,
    answered: Sequence[CourierRate],
    query: RateQuery,
    new_ids: Sequence[str],
    now: datetime,
    expires_at: datetime,
) -> list[Rate]:
    """The rates of what ``courier`` answered that the query wants (its services, COD when asked).

    ``new_ids`` has an id for every answered rate, in order.
    """
    rates: list[Rate] = []
    for offer, rate_id in zip(answered, new_ids, strict=True):
        service = courier.service(offer.service)
        if service is None or offer.price <= 0 or (query.cod and not offer.cod_available):
            continue
        rates.append(
            Rate(
                id=rate_id,
                courier=courier.code,
                service=service.code,
                service_name=service.name,
                level=service.level,
                price=offer.price,
                chargeable_grams=query.parcel.chargeable_grams(courier),
                etd_min_days=offer.etd_min_days,
                etd_max_days=max(offer.etd_max_days, offer.etd_min_days),
                cod_available=offer.cod_available and service.cod_supported,
                insurance_fee=courier.insurance_for(query.parcel.value),
                slotted=service.slotted,
                origin=query.origin,
                destination=query.destination,
                created_at=now,
                expires_at=expires_at,
            )
        )
    return rates


def cheapest_first(rates: Sequence[Rate]) -> list[Rate]:
    """Rates by price, then fastest, then by courier and service (a stable order for equal offers)."""
    return sorted(rates, key=lambda rate: (rate.price, rate.etd_max_days, rate.courier, rate.service))


def carries(courier: Courier, parcel: Parcel) -> bool:
    """Whether ``courier`` takes a parcel this heavy at all."""
    return not courier.max_weight_grams or parcel.chargeable_grams(courier) <= courier.max_weight_grams


# ---- slots and shipments ------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """A delivery window of a slotted service, and how many deliveries it takes and has taken."""

    id: str
    courier: str
    service: str
    city: str
    starts_at: datetime
    ends_at: datetime
    capacity: int
    booked: int = 0

    @property
    def capacity_left(self) -> int:
        """Deliveries still possible in it."""
        return max(self.capacity - self.booked, 0)


class HoldState(IntEnum):
    """Where a slot hold is (the proto's ``SlotHoldState`` numbers)."""

    HELD = 1
    BOOKED = 2
    RELEASED = 3


@dataclass(frozen=True)
class SlotHold:
    """One place of a slot kept under a checkout's reference, counted in the slot's ``booked``.

    Held, it keeps the place; booked, the place is its shipment's; released (given back, or lapsed
    once ``expires_at`` passed), the place is the slot's again.
    """

    reference: str
    slot_id: str
    state: HoldState
    expires_at: datetime


@dataclass(frozen=True)
class HoldRequest:
    """A checked request to hold a slot's place: the reference, the slot, and how long the hold lasts."""

    reference: str
    slot_id: str
    ttl: timedelta


def hold_request(*, reference: str, slot_id: str, ttl_seconds: int) -> HoldRequest:
    """The request, its ids stripped; ``ValidationFailed`` naming every field at fault."""
    clean_reference, bad_reference = hold_reference(reference)
    clean_slot_id = slot_id.strip()
    bad_slot_id = (
        []
        if 1 <= len(clean_slot_id) <= MAX_SLOT_ID_LENGTH
        else [Violation("slot_id", f"must be 1 to {MAX_SLOT_ID_LENGTH} characters", ErrorCode.SLOT_NOT_FOUND)]
    )
    ttl, bad_ttl = hold_ttl(ttl_seconds)
    raise_if([*bad_reference, *bad_slot_id, *bad_ttl])
    return HoldRequest(reference=clean_reference, slot_id=clean_slot_id, ttl=ttl)


def hold_reference(
    value: str, path: str = "reference", *, required: bool = True
) -> tuple[str, list[Violation]]:
    """A hold's reference, stripped, and what is wrong with it: 1 to 200 characters (or none if optional)."""
    reference = value.strip()
    if required and not reference:
        return reference, [
            Violation(path, f"must be 1 to {MAX_HOLD_REFERENCE_LENGTH} characters", ErrorCode.INVALID_HOLD)
        ]
    if len(reference) > MAX_HOLD_REFERENCE_LENGTH:
        return reference, [
            Violation(path, f"must be at most {MAX_HOLD_REFERENCE_LENGTH} characters", ErrorCode.INVALID_HOLD)
        ]
    return reference, []


def hold_ttl(seconds: int) -> tuple[timedelta, list[Violation]]:
    """How long a hold lasts (0 means a day), and what is wrong with ``seconds``."""
    if seconds == 0:
        return DEFAULT_HOLD_TTL, []
    if not MIN_HOLD_TTL_SECONDS <= seconds <= MAX_HOLD_TTL_SECONDS:
        description = f"must be {MIN_HOLD_TTL_SECONDS} to {MAX_HOLD_TTL_SECONDS} seconds, or 0 for a day"
        return DEFAULT_HOLD_TTL, [Violation("ttl_seconds", description, ErrorCode.INVALID_HOLD)]
    return timedelta(seconds=seconds), []


@dataclass(frozen=True)
class Contact:
    """A person and where to find them."""

    name: str
    phone: str
    street: str
    place: Place


@dataclass(frozen=True)
class TrackingEvent:
    """One status report of the courier: its own words, normalised."""

    status: Status
    courier_status: str
    description: str
    location: str
    event_time: datetime


@dataclass(frozen=True)
class Shipment:
    """An order's parcel: booked with a courier (``waybill`` empty until the courier answers)."""

    id: str
    order_id: str
    shop_id: str
    buyer_id: str
    rate_id: str
    courier: str
    service: str
    status: Status
    created_at: datetime
    updated_at: datetime
    waybill: str = ""
    slot: Slot | None = None
    tracking: tuple[TrackingEvent, ...] = field(default=())

    @property
    def booked(self) -> bool:
        """Whether the courier gave it a waybill number."""
        return bool(self.waybill)

    def visible_to(self, *, subject: str, manages_shop: bool, is_admin: bool) -> bool:
        """Whether a caller may see it: its buyer, its shop's seller, admins."""
        return is_admin or manages_shop or (bool(subject) and subject == self.buyer_id)
