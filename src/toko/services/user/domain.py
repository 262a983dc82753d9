"""The user service's domain: accounts, addresses, wishlists and shops, and the rules they obey.

Pure Python: no database, transport or proto imports (an import-linter contract
keeps it so). Every rule that a request can break is checked here and reported
as a ``Violation`` naming the field, so one answer tells the client everything
to fix. Password strength lives in ``passwords`` (it reads a word list). Every name a
person reads (display, shop, collection, recipient, label, places) obeys the platform's
text rule (``toko.platform.text``): no blanks of invisible characters, no bidi controls.

Errors raised here (translated into platform errors by the handlers): ``ValidationFailed``
(``toko.platform.rules``), for bad values; it carries every violation.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from urllib.parse import urlsplit

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from toko.platform.rules import ValidationFailed, Violation, raise_if
from toko.platform.text import checked_text, clean_text
from toko.services.user.error_codes import ErrorCode

# --- limits -------------------------------------------------------------------------------------------------

NAME_MAX_LENGTH = 100
EMAIL_MAX_LENGTH = 254
AVATAR_URL_MAX_LENGTH = 2_000
MIN_AGE_YEARS = 13
MAX_AGE_YEARS = 130
MAX_ADDRESSES = 20
ADDRESS_FIELD_MAX_LENGTH = 100
STREET_MAX_LENGTH = 500
LABEL_MAX_LENGTH = 30
MAX_WISHLIST_ITEMS = 1_000
MAX_WISHLIST_COLLECTIONS = 20
COLLECTION_NAME_MAX_LENGTH = 50
SHOP_NAME_MIN_LENGTH, SHOP_NAME_MAX_LENGTH = 3, 60
DOMAIN_MIN_LENGTH, DOMAIN_MAX_LENGTH = 3, 24
SHOP_DESCRIPTION_MAX_LENGTH = 2_000
CITY_MAX_LENGTH = 60
MAX_SHOP_STAFF = 10
# Indonesia's bounding box, a little generous: Rote (~-11) to Weh (~6), Sabang (95) to Merauke (141).
LATITUDE_RANGE = (-11.0, 6.0)
LONGITUDE_RANGE = (95.0, 141.0)

PHONE_REGION = "ID"
DEFAULT_COLLECTION_NAME = "Semua"
# The languages of an account's emails and pages; Indonesian unless the account chose otherwise.
LANGUAGES: tuple[str, ...] = ("id", "en")
DEFAULT_LANGUAGE = "id"

# Indonesia's 38 provinces (since the 2022 split of Papua), as the Ministry of Home Affairs names them.
PROVINCES: tuple[str, ...] = (
    "Aceh",
    "Sumatera Utara",
    "Sumatera Barat",
    "Riau",
    "Kepulauan Riau",
    "Jambi",
    "Sumatera Selatan",
    "Kepulauan Bangka Belitung",
    "Bengkulu",
    "Lampung",
    "DKI Jakarta",
    "Jawa Barat",
    "Banten",
    "Jawa Tengah",
    "DI Yogyakarta",
    "Jawa Timur",
    "Bali",
    "Nusa Tenggara Barat",
    "Nusa Tenggara Timur",
    "Kalimantan Barat",
    "Kalimantan Tengah",
    "Kalimantan Selatan",
    "Kalimantan Timur",
    "Kalimantan Utara",
    "Sulawesi Utara",
    "Gorontalo",
    "Sulawesi Tengah",
    "Sulawesi Barat",
    "Sulawesi Selatan",
    "Sulawesi Tenggara",
    "Maluku",
    "Maluku Utara",
    "Papua",
    "Papua Barat",
    "Papua Barat Daya",
    "Papua Selatan",
    "Papua Tengah",
    "Papua Pegunungan",
)
# Spellings people type for the same province, mapped to the official name.
_PROVINCE_ALIASES = {
    "jakarta": "DKI Jakarta",
    "daerah khusus ibukota jakarta": "DKI Jakarta",
    "yogyakarta": "DI Yogyakarta",
    "daerah istimewa yogyakarta": "DI Yogyakarta",
    "diy": "DI Yogyakarta",
    "nanggroe aceh darussalam": "Aceh",
    "bangka belitung": "Kepulauan Bangka Belitung",
    "babel": "Kepulauan Bangka Belitung",
    "ntb": "Nusa Tenggara Barat",
    "ntt": "Nusa Tenggara Timur",
    "sumut": "Sumatera Utara",
    "sumbar": "Sumatera Barat",
    "sumsel": "Sumatera Selatan",
    "jabar": "Jawa Barat",
    "jateng": "Jawa Tengah",
    "jatim": "Jawa Timur",
}

# Storefront domains that would collide with pages of the platform or mislead buyers.
RESERVED_DOMAINS: frozenset[str] = frozenset(
    {
        "admin",
        "api",
        "app",
        "auth",
        "cart",
        "checkout",
        "docs",
        "help",
        "login",
        "logout",
        "me",
        "oauth",
        "oauth2",
        "official",
        "openapi",
        "order",
        "orders",
        "pay",
        "payment",
        "search",
        "seller",
        "settings",
        "shop",
        "shops",
        "signin",
        "signup",
        "static",
        "support",
        "toko",
        "tokopedia",
        "user",
        "users",
        "wishlist",
        "www",
    }
)

_POSTAL_CODE = re.compile(r"^[1-9][0-9]{4}$")
_DOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# --- roles --------------------------------------------------------------------------------------------------


class Role(StrEnum):
    """What an account may do: every account buys, a shop makes a seller, admins are appointed."""

    BUYER = "buyer"
    SELLER = "seller"
    ADMIN = "admin"


# Roles given by hand; the others follow from the account's shop.
GRANTABLE_ROLES = frozenset({Role.ADMIN})


def roles_of(*, is_admin: bool, shop_id: str | None) -> list[str]:
    """The roles an account holds, in a stable order."""
    roles = [Role.BUYER.value]
    if shop_id:
        roles.append(Role.SELLER.value)
    if is_admin:
        roles.append(Role.ADMIN.value)
    return roles


# --- entities -----------------------------------------------------------------------------------------------


class ShopStatus(StrEnum):
    """Where a shop is in its life: closing is final."""

    ACTIVE = "active"
    CLOSED = "closed"


@dataclass(frozen=True)
class User:
    """An account and its profile."""

    id: str
    email: str
    email_verified: bool
    name: str
    phone: str
    birth_date: date | None
    avatar_url: str
    is_admin: bool
    shop_id: str | None
    totp_enabled: bool
    created_at: datetime
    updated_at: datetime
    language: str = DEFAULT_LANGUAGE
    deleted: bool = False

    @property
    def roles(self) -> list[str]:
        """The account's roles."""
        return roles_of(is_admin=self.is_admin, shop_id=self.shop_id)


@dataclass(frozen=True)
class MapPin:
    """A point on the map."""

    latitude: float
    longitude: float


@dataclass(frozen=True)
class AddressFields:
    """What a client says about an address (validated by ``check_address``)."""

    label: str = ""
    recipient: str = ""
    phone: str = ""
    province: str = ""
    city: str = ""
    district: str = ""
    sub_district: str = ""
    postal_code: str = ""
    street: str = ""
    pin: MapPin | None = None


ADDRESS_FIELDS: tuple[str, ...] = (
    "label",
    "recipient",
    "phone",
    "province",
    "city",
    "district",
    "sub_district",
    "postal_code",
    "street",
    "pin",
)


@dataclass(frozen=True)
class Address:
    """An entry of an address book."""

    id: str
    user_id: str
    fields: AddressFields
    is_default: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Shop:
    """A seller's storefront."""

    id: str
    owner_id: str
    name: str
    domain: str
    description: str
    origin_city: str
    status: ShopStatus
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ShopFields:
    """What a client says about a shop (validated by ``check_shop``)."""

    name: str = ""
    description: str = ""
    origin_city: str = ""
    domain: str = ""


SHOP_UPDATABLE_FIELDS: tuple[str, ...] = ("name", "description", "origin_city")
PROFILE_UPDATABLE_FIELDS: tuple[str, ...] = ("name", "phone", "birth_date", "avatar_url", "language")


# --- accounts -----------------------------------------------------------------------------------------------


def normalise_email(raw: str, path: str = "email") -> str:
    """The email address in the form it is stored and compared in (lowercase); raise when malformed."""
    candidate = raw.strip()
    if not candidate or len(candidate) > EMAIL_MAX_LENGTH:
        raise ValidationFailed([Violation(path, "must be an email address", ErrorCode.INVALID_EMAIL)])
    try:
        # No DNS lookups: deliverability is proved by the verification link, not guessed at sign-up.
        # test_environment admits the reserved ``.test`` domain (RFC 2606) of the demo accounts;
        # other special-use names (``.invalid``, ``localhost``…) stay refused.
        result = validate_email(candidate, check_deliverability=False, test_environment=True)
    except EmailNotValidError as exc:
        raise ValidationFailed([Violation(path, str(exc), ErrorCode.INVALID_EMAIL)]) from exc
    return result.normalized.lower()


def normalise_phone(raw: str, path: str = "phone") -> str:
    """An Indonesian mobile number in E.164 form ("+62812…"); local forms such as "0812…" are accepted."""
    problem = ValidationFailed(
        [Violation(path, "must be an Indonesian mobile number, e.g. +6281234567890", ErrorCode.INVALID_PHONE)]
    )
    candidate = raw.strip()
    if not candidate or len(candidate) > 32:
        raise problem
    try:
        number = phonenumbers.parse(candidate, PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise problem from exc
    if (
        not phonenumbers.is_valid_number(number)
        or phonenumbers.region_code_for_number(number) != PHONE_REGION
        or phonenumbers.number_type(number)
        not in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)
    ):
        raise problem
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_name(raw: str, path: str = "name") -> tuple[str, list[Violation]]:
    """The display name, cleaned, and what is wrong with it."""
    return checked_text(raw, path, ErrorCode.INVALID_NAME, maximum=NAME_MAX_LENGTH)


def check_language(raw: str, path: str = "language") -> tuple[str, list[Violation]]:
    """The account's language code and what is wrong with it; empty means the default, Indonesian."""
    language = raw.strip().lower() or DEFAULT_LANGUAGE
    if language not in LANGUAGES:
        return language, [
            Violation(path, f"must be one of: {', '.join(LANGUAGES)}", ErrorCode.INVALID_LANGUAGE)
        ]
    return language, []


def parse_birth_date(raw: str, *, today: date, path: str = "birth_date") -> date | None:
    """A YYYY-MM-DD birth date at least 13 years ago; an empty value clears it."""
    if not raw.strip():
        return None
    try:
        born = date.fromisoformat(raw.strip())
    except ValueError as exc:
        raise ValidationFailed(
            [Violation(path, "must be a date as YYYY-MM-DD", ErrorCode.INVALID_BIRTH_DATE)]
        ) from exc
    if born >= today:
        raise ValidationFailed([Violation(path, "must be in the past", ErrorCode.INVALID_BIRTH_DATE)])
    if years_between(born, today) < MIN_AGE_YEARS:
        raise ValidationFailed(
            [
                Violation(
                    path, f"account holders must be at least {MIN_AGE_YEARS}", ErrorCode.INVALID_BIRTH_DATE
                )
            ]
        )
    if years_between(born, today) > MAX_AGE_YEARS:
        raise ValidationFailed([Violation(path, "is too long ago", ErrorCode.INVALID_BIRTH_DATE)])
    return born


def years_between(born: date, today: date) -> int:
    """Full years from ``born`` to ``today`` (someone born on 29 February turns a year older on 1 March)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def check_avatar_url(raw: str, path: str = "avatar_url") -> tuple[str, list[Violation]]:
    """The avatar URL and what is wrong with it: https with a host; empty clears it."""
    url = raw.strip()
    if not url:
        return "", []
    parts = urlsplit(url)
    if (
        len(url) > AVATAR_URL_MAX_LENGTH
        or parts.scheme != "https"
        or not parts.hostname
        or _CONTROL.search(url)
        or " " in url
    ):
        return url, [Violation(path, "must be an https URL", ErrorCode.INVALID_AVATAR_URL)]
    return url, []


# --- addresses ----------------------------------------------------------------------------------------------


def normalise_province(raw: str) -> str | None:
    """The official name of the province ``raw`` names (case and spacing ignored), or None."""
    key = clean_text(raw).casefold()
    for province in PROVINCES:
        if province.casefold() == key:
            return province
    return _PROVINCE_ALIASES.get(key)


def is_valid_postal_code(code: str) -> bool:
    """Indonesian postal codes are five digits, the first one 1 to 9."""
    return bool(_POSTAL_CODE.fullmatch(code))


def check_address(fields: AddressFields, *, prefix: str = "address.") -> AddressFields:
    """The address cleaned and normalised; raise with every problem."""
    problems: list[Violation] = []
    texts: dict[str, str] = {}
    for name in ("recipient", "city", "district", "sub_district"):
        texts[name], found = checked_text(
            getattr(fields, name),
            prefix + name,
            ErrorCode.INVALID_ADDRESS_FIELD,
            maximum=ADDRESS_FIELD_MAX_LENGTH,
        )
        problems += found
    street, found = checked_text(
        fields.street, prefix + "street", ErrorCode.INVALID_ADDRESS_FIELD, maximum=STREET_MAX_LENGTH
    )
    problems += found
    label, found = checked_text(
        fields.label, prefix + "label", ErrorCode.INVALID_LABEL, maximum=LABEL_MAX_LENGTH, minimum=0
    )
    problems += found
    province = normalise_province(fields.province)
    if province is None:
        problems.append(
            Violation(
                prefix + "province", "must be one of Indonesia's 38 provinces", ErrorCode.INVALID_PROVINCE
            )
        )
    postal_code = fields.postal_code.strip()
    if not is_valid_postal_code(postal_code):
        problems.append(
            Violation(
                prefix + "postal_code", "must be 5 digits, the first 1 to 9", ErrorCode.INVALID_POSTAL_CODE
            )
        )
    phone = ""
    try:
        phone = normalise_phone(fields.phone, prefix + "phone")
    except ValidationFailed as exc:
        problems += exc.violations
    if fields.pin is not None:
        problems += check_pin(fields.pin, prefix + "pin")
    raise_if(problems)
    return AddressFields(
        label=label,
        recipient=texts["recipient"],
        phone=phone,
        province=province or "",
        city=texts["city"],
        district=texts["district"],
        sub_district=texts["sub_district"],
        postal_code=postal_code,
        street=street,
        pin=fields.pin,
    )


def check_pin(pin: MapPin, path: str) -> list[Violation]:
    """A map pin must fall within Indonesia's bounding box."""
    low_lat, high_lat = LATITUDE_RANGE
    low_lng, high_lng = LONGITUDE_RANGE
    # NaN compares false with everything, so it fails these checks too.
    if not (low_lat <= pin.latitude <= high_lat and low_lng <= pin.longitude <= high_lng):
        return [
            Violation(
                path,
                f"must lie within Indonesia: latitude {low_lat:g} to {high_lat:g}, "
                f"longitude {low_lng:g} to {high_lng:g}",
                ErrorCode.INVALID_MAP_PIN,
            )
        ]
    return []


def merge_address(current: AddressFields, changes: AddressFields, mask: Sequence[str]) -> AddressFields:
    """``current`` with the masked fields taken from ``changes`` (not yet validated)."""
    unknown = [name for name in mask if name not in ADDRESS_FIELDS]
    if unknown or not mask:
        raise ValidationFailed(
            [
                Violation(
                    "update_mask",
                    f"name some of: {', '.join(ADDRESS_FIELDS)}"
                    + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
                    ErrorCode.INVALID_UPDATE_MASK,
                )
            ]
        )
    values = {name: getattr(changes if name in mask else current, name) for name in ADDRESS_FIELDS}
    return AddressFields(**values)


# --- wishlists ----------------------------------------------------------------------------------------------


def check_collection_name(raw: str, path: str = "collection.name") -> str:
    """A collection name, cleaned; raise when empty, too long, or the implicit "Semua"."""
    name, problems = checked_text(
        raw, path, ErrorCode.INVALID_COLLECTION_NAME, maximum=COLLECTION_NAME_MAX_LENGTH
    )
    if not problems and name.casefold() == DEFAULT_COLLECTION_NAME.casefold():
        problems = [
            Violation(
                path, f"{DEFAULT_COLLECTION_NAME!r} is the whole wishlist", ErrorCode.INVALID_COLLECTION_NAME
            )
        ]
    raise_if(problems)
    return name


# --- shops --------------------------------------------------------------------------------------------------


def domain_problem(domain: str, path: str = "domain") -> list[Violation]:
    """What is wrong with a storefront domain slug, if anything."""
    if not DOMAIN_MIN_LENGTH <= len(domain) <= DOMAIN_MAX_LENGTH or not _DOMAIN.fullmatch(domain):
        return [
            Violation(
                path,
                f"must be {DOMAIN_MIN_LENGTH} to {DOMAIN_MAX_LENGTH} of a-z, 0-9 and '-', "
                "not starting or ending with '-'",
                ErrorCode.INVALID_DOMAIN,
            )
        ]
    if "--" in domain:
        return [Violation(path, "must not contain '--'", ErrorCode.INVALID_DOMAIN)]
    if domain in RESERVED_DOMAINS:
        return [Violation(path, f"{domain!r} is reserved", ErrorCode.INVALID_DOMAIN)]
    return []


def check_shop(fields: ShopFields, *, names: Sequence[str], prefix: str = "") -> ShopFields:
    """The named fields of a shop cleaned; raise with every problem."""
    problems: list[Violation] = []
    name, name_problems = checked_text(
        fields.name,
        prefix + "name",
        ErrorCode.INVALID_SHOP_NAME,
        minimum=SHOP_NAME_MIN_LENGTH,
        maximum=SHOP_NAME_MAX_LENGTH,
    )
    description = unicodedata.normalize("NFC", fields.description).strip()
    city, city_problems = checked_text(
        fields.origin_city, prefix + "origin_city", ErrorCode.INVALID_CITY, maximum=CITY_MAX_LENGTH
    )
    domain = fields.domain.strip()
    if "name" in names:
        problems += name_problems
    if "description" in names and len(description) > SHOP_DESCRIPTION_MAX_LENGTH:
        problems.append(
            Violation(
                prefix + "description",
                f"must be at most {SHOP_DESCRIPTION_MAX_LENGTH} characters",
                ErrorCode.DESCRIPTION_TOO_LONG,
            )
        )
    if "origin_city" in names:
        problems += city_problems
    if "domain" in names:
        problems += domain_problem(domain, prefix + "domain")
    raise_if(problems)
    return ShopFields(name=name, description=description, origin_city=city, domain=domain)
