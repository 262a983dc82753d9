"""The catalog's domain: categories, products, options, SKUs and prices, and the rules they obey.

Pure Python: no database, transport or proto imports (an import-linter contract
keeps it so). Rules are checked when a product is created or changed; every
broken rule is collected, so one answer tells the seller everything to fix.

Errors raised here (translated into platform errors by the handlers)::

    ValidationFailed       bad values; carries every violation (``toko.platform.rules``)
    ArchivedProductError   the product is archived and can no longer change
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from urllib.parse import urlsplit

from toko.platform.rules import ValidationFailed, Violation, raise_if
from toko.platform.text import clean_text, text_violations
from toko.services.product.error_codes import ErrorCode

CURRENCY = "IDR"
MIN_PRICE = 1
# One hundred billion rupiah: anything dearer is a typo, not a product.
MAX_PRICE = 100_000_000_000
TITLE_MIN_LENGTH, TITLE_MAX_LENGTH = 3, 200
SLUG_MIN_LENGTH, SLUG_MAX_LENGTH = 3, 120
DESCRIPTION_MAX_LENGTH = 10_000
MAX_IMAGES, IMAGE_URL_MAX_LENGTH = 10, 2_000
MAX_ATTRIBUTES, ATTRIBUTE_NAME_MAX_LENGTH, ATTRIBUTE_VALUE_MAX_LENGTH = 50, 100, 1_000
MIN_WEIGHT_GRAMS, MAX_WEIGHT_GRAMS = 1, 500_000
MAX_DIMENSION_MM = 5_000
MAX_OPTIONS, MAX_OPTION_VALUES, OPTION_NAME_MAX_LENGTH, OPTION_VALUE_MAX_LENGTH = 3, 50, 50, 50
MAX_SKUS, SKU_CODE_MAX_LENGTH = 200, 64
CATEGORY_NAME_MAX_LENGTH = 100

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NOT_SLUG_CHARS = re.compile(r"[^a-z0-9]+")
_SKU_CODE = re.compile(r"^\S+$")
SLUG_RULE = f"must be {SLUG_MIN_LENGTH} to {SLUG_MAX_LENGTH} lowercase letters, digits and single hyphens"


class Condition(StrEnum):
    """Condition of the goods."""

    NEW = "new"
    USED = "used"


class ProductStatus(StrEnum):
    """Where a product is in its life: draft and active go back and forth; archived is final."""

    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


# Fields a seller may change with UpdateProduct, in the order changes are reported.
UPDATABLE_FIELDS: tuple[str, ...] = (
    "title",
    "slug",
    "description",
    "category_id",
    "condition",
    "status",
    "attributes",
    "image_urls",
    "weight_grams",
    "dimensions",
    "options",
    "skus",
)


# --- errors -------------------------------------------------------------------------------------------------


class ArchivedProductError(Exception):
    """An archived product is off sale for good and can no longer change."""

    reason = ErrorCode.PRODUCT_ARCHIVED


# --- value objects ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    """An integer amount of the currency's minor units (IDR has none in use)."""

    amount: int
    currency: str = CURRENCY


@dataclass(frozen=True, slots=True)
class Attribute:
    """A specification line, e.g. Merek: Samsung."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class Dimensions:
    """Packed dimensions in millimetres; zero means unknown."""

    length_mm: int = 0
    width_mm: int = 0
    height_mm: int = 0


@dataclass(frozen=True, slots=True)
class ProductOption:
    """An axis of variation, e.g. Warna: Merah, Biru."""

    name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SkuSpec:
    """A SKU as the seller describes it."""

    code: str
    option_values: Mapping[str, str]
    price: Money


@dataclass(frozen=True)
class Sku:
    """A sellable variant: one value of every option of its product, and a price."""

    id: str
    code: str
    option_values: Mapping[str, str]
    price: Money

    def spec(self) -> SkuSpec:
        """The seller's view of this SKU."""
        return SkuSpec(code=self.code, option_values=self.option_values, price=self.price)


@dataclass(frozen=True)
class Category:
    """A node of the category tree; ``path`` holds the ids from the root down to it, itself included."""

    id: str
    parent_id: str | None
    name: str
    slug: str
    path: tuple[str, ...]


@dataclass(frozen=True)
class ProductSpec:
    """Everything a seller sets on a product; ``None`` for an enum means it was not given."""

    category_id: str
    title: str
    slug: str
    description: str
    condition: Condition | None
    status: ProductStatus | None
    attributes: tuple[Attribute, ...]
    image_urls: tuple[str, ...]
    weight_grams: int
    dimensions: Dimensions
    options: tuple[ProductOption, ...]
    skus: tuple[SkuSpec, ...]


@dataclass(frozen=True)
class Product:
    """A shop's listing with its SKUs."""

    id: str
    shop_id: str
    category_id: str
    title: str
    slug: str
    description: str
    condition: Condition
    status: ProductStatus
    attributes: tuple[Attribute, ...]
    image_urls: tuple[str, ...]
    weight_grams: int
    dimensions: Dimensions
    options: tuple[ProductOption, ...]
    skus: tuple[Sku, ...]
    created_at: datetime
    updated_at: datetime
    version: int = 1
    currency: str = field(default=CURRENCY)

    @property
    def min_price(self) -> Money:
        """The cheapest SKU's price."""
        return Money(min(sku.price.amount for sku in self.skus), self.currency)

    @property
    def max_price(self) -> Money:
        """The dearest SKU's price."""
        return Money(max(sku.price.amount for sku in self.skus), self.currency)

    def spec(self) -> ProductSpec:
        """The seller-editable part of the product."""
        return ProductSpec(
            category_id=self.category_id,
            title=self.title,
            slug=self.slug,
            description=self.description,
            condition=self.condition,
            status=self.status,
            attributes=self.attributes,
            image_urls=self.image_urls,
            weight_grams=self.weight_grams,
            dimensions=self.dimensions,
            options=self.options,
            skus=tuple(sku.spec() for sku in self.skus),
        )


@dataclass(frozen=True)
class SkuView:
    """A SKU with the facts of its product that a cart or an order needs."""

    sku: Sku
    product_id: str
    product_title: str
    shop_id: str
    product_status: ProductStatus
    weight_grams: int
    image_url: str
    dimensions: Dimensions = Dimensions(0, 0, 0)


# --- rules --------------------------------------------------------------------------------------------------


def slugify(text: str) -> str:
    """A valid slug derived from ``text``: transliterated to ASCII, lowercase, words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = _NOT_SLUG_CHARS.sub("-", ascii_text).strip("-")[:SLUG_MAX_LENGTH].rstrip("-")
    if len(slug) < SLUG_MIN_LENGTH:
        # Too little survives transliteration (e.g. a title in Chinese): a stable digest keeps it unique.
        digest = hashlib.blake2s(text.encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
        slug = f"{slug or 'item'}-{digest}"
    return slug


def numbered_slug(base: str, number: int) -> str:
    """The ``number``-th slug of a derived ``base``: the base itself, then ``<base>-2``, ``<base>-3`` …

    The base is shortened where the suffix would make the slug too long, so each stays valid.
    """
    if number <= 1:
        return base
    suffix = f"-{number}"
    return f"{base[: SLUG_MAX_LENGTH - len(suffix)].rstrip('-')}{suffix}"


def derives_slug(spec: ProductSpec) -> bool:
    """Whether the slug of ``spec`` is left to be derived from the title (the seller set none)."""
    return not spec.slug.strip()


def is_valid_slug(slug: str) -> bool:
    """Whether ``slug`` is lowercase ASCII words of letters and digits joined by single hyphens."""
    return SLUG_MIN_LENGTH <= len(slug) <= SLUG_MAX_LENGTH and _SLUG.match(slug) is not None


def is_valid_image_url(url: str) -> bool:
    """Whether ``url`` is an absolute http(s) URL of acceptable length."""
    if not url or len(url) > IMAGE_URL_MAX_LENGTH or any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def _check_text(
    out: list[Violation], path: str, value: str, bounds: tuple[int, int], reason: ErrorCode
) -> None:
    low, high = bounds
    if not low <= len(value) <= high:
        out.append(Violation(path, f"must be {low} to {high} characters", reason))


def _check_name(
    out: list[Violation], path: str, value: str, bounds: tuple[int, int], reason: ErrorCode
) -> None:
    """A name a person reads: ``toko.platform.text``'s rule (visible, no bidirectional controls)."""
    low, high = bounds
    out.extend(text_violations(value, path, reason, minimum=low, maximum=high))


def _check_price(price: Money, path: str, out: list[Violation]) -> None:
    if not MIN_PRICE <= price.amount <= MAX_PRICE:
        out.append(
            Violation(
                f"{path}.amount",
                f"must be between {MIN_PRICE:,} and {MAX_PRICE:,} {CURRENCY}",
                ErrorCode.PRICE_OUT_OF_RANGE,
            )
        )
    if price.currency != CURRENCY:
        out.append(
            Violation(f"{path}.currency", f"only {CURRENCY} is supported", ErrorCode.UNSUPPORTED_CURRENCY)
        )


def _check_options(options: Sequence[ProductOption], prefix: str, out: list[Violation]) -> None:
    if len(options) > MAX_OPTIONS:
        out.append(
            Violation(f"{prefix}options", f"at most {MAX_OPTIONS} options", ErrorCode.TOO_MANY_OPTIONS)
        )
    names: set[str] = set()
    for i, option in enumerate(options):
        path = f"{prefix}options[{i}]"
        _check_name(out, f"{path}.name", option.name, (1, OPTION_NAME_MAX_LENGTH), ErrorCode.INVALID_OPTION)
        # Case-blind: "Warna" and "warna" would read as one option to a buyer.
        if option.name.casefold() in names:
            out.append(
                Violation(f"{path}.name", "is used by another option", ErrorCode.DUPLICATE_OPTION_NAME)
            )
        names.add(option.name.casefold())
        if not 1 <= len(option.values) <= MAX_OPTION_VALUES:
            out.append(
                Violation(
                    f"{path}.values", f"must have 1 to {MAX_OPTION_VALUES} values", ErrorCode.INVALID_OPTION
                )
            )
        for j, value in enumerate(option.values):
            _check_name(
                out, f"{path}.values[{j}]", value, (1, OPTION_VALUE_MAX_LENGTH), ErrorCode.INVALID_OPTION
            )
        if len(set(option.values)) != len(option.values):
            out.append(Violation(f"{path}.values", "values must be unique", ErrorCode.DUPLICATE_OPTION_VALUE))


def check_skus(
    options: Sequence[ProductOption], skus: Sequence[SkuSpec], prefix: str = ""
) -> list[Violation]:
    """The violations of the SKU rules: each SKU picks one allowed value of every option, all distinct."""
    out: list[Violation] = []
    if not skus:
        out.append(Violation(f"{prefix}skus", "at least one SKU is required", ErrorCode.SKU_REQUIRED))
    elif len(skus) > MAX_SKUS:
        out.append(Violation(f"{prefix}skus", f"at most {MAX_SKUS} SKUs", ErrorCode.TOO_MANY_SKUS))
    allowed = {option.name: frozenset(option.values) for option in options}
    names = tuple(allowed)
    codes: set[str] = set()
    combinations: set[tuple[str, ...]] = set()
    for i, sku in enumerate(skus):
        path = f"{prefix}skus[{i}]"
        if not (1 <= len(sku.code) <= SKU_CODE_MAX_LENGTH and _SKU_CODE.match(sku.code)):
            out.append(
                Violation(
                    f"{path}.code",
                    f"must be 1 to {SKU_CODE_MAX_LENGTH} characters without spaces",
                    ErrorCode.INVALID_SKU_CODE,
                )
            )
        elif sku.code in codes:
            out.append(Violation(f"{path}.code", "is used by another SKU", ErrorCode.DUPLICATE_SKU_CODE))
        codes.add(sku.code)
        problem = _option_values_problem(allowed, sku.option_values)
        if problem:
            out.append(Violation(f"{path}.option_values", problem, ErrorCode.SKU_OPTIONS_MISMATCH))
        else:
            combination = tuple(sku.option_values[name] for name in names)
            if combination in combinations:
                out.append(
                    Violation(
                        f"{path}.option_values",
                        "another SKU has the same combination",
                        ErrorCode.DUPLICATE_SKU_COMBINATION,
                    )
                )
            combinations.add(combination)
        _check_price(sku.price, f"{path}.price", out)
    return out


def _option_values_problem(allowed: Mapping[str, frozenset[str]], chosen: Mapping[str, str]) -> str:
    if not allowed:
        return "" if not chosen else "the product has no options, so a SKU takes no option values"
    missing = [name for name in allowed if name not in chosen]
    unknown = [name for name in chosen if name not in allowed]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing a value for {', '.join(missing)}")
        if unknown:
            parts.append(f"the product has no option {', '.join(unknown)}")
        return "; ".join(parts)
    wrong = [
        f"{value!r} is not a value of {name}" for name, value in chosen.items() if value not in allowed[name]
    ]
    return "; ".join(wrong)


def check_product(spec: ProductSpec, *, prefix: str = "", creating: bool = False) -> list[Violation]:
    """Every rule ``spec`` breaks, with field paths under ``prefix`` (``product.`` for an update)."""
    out: list[Violation] = []
    _check_name(
        out, f"{prefix}title", spec.title, (TITLE_MIN_LENGTH, TITLE_MAX_LENGTH), ErrorCode.INVALID_TITLE
    )
    if not is_valid_slug(spec.slug):
        out.append(
            Violation(
                f"{prefix}slug",
                SLUG_RULE,
                ErrorCode.INVALID_SLUG,
            )
        )
    if len(spec.description) > DESCRIPTION_MAX_LENGTH:
        out.append(
            Violation(
                f"{prefix}description",
                f"at most {DESCRIPTION_MAX_LENGTH:,} characters",
                ErrorCode.DESCRIPTION_TOO_LONG,
            )
        )
    if spec.condition is None:
        out.append(Violation(f"{prefix}condition", "must be new or used", ErrorCode.INVALID_CONDITION))
    if spec.status is None or (creating and spec.status is ProductStatus.ARCHIVED):
        allowed = "draft or active" if creating else "draft, active or archived"
        out.append(Violation(f"{prefix}status", f"must be {allowed}", ErrorCode.INVALID_STATUS))
    if len(spec.attributes) > MAX_ATTRIBUTES:
        out.append(
            Violation(
                f"{prefix}attributes", f"at most {MAX_ATTRIBUTES} attributes", ErrorCode.TOO_MANY_ATTRIBUTES
            )
        )
    for i, attribute in enumerate(spec.attributes):
        path = f"{prefix}attributes[{i}]"
        _check_name(
            out, f"{path}.name", attribute.name, (1, ATTRIBUTE_NAME_MAX_LENGTH), ErrorCode.INVALID_ATTRIBUTE
        )
        _check_text(
            out,
            f"{path}.value",
            attribute.value,
            (1, ATTRIBUTE_VALUE_MAX_LENGTH),
            ErrorCode.INVALID_ATTRIBUTE,
        )
    if len(spec.image_urls) > MAX_IMAGES:
        out.append(
            Violation(f"{prefix}image_urls", f"at most {MAX_IMAGES} images", ErrorCode.TOO_MANY_IMAGES)
        )
    for i, url in enumerate(spec.image_urls):
        if not is_valid_image_url(url):
            out.append(
                Violation(
                    f"{prefix}image_urls[{i}]",
                    f"must be an http or https URL of at most {IMAGE_URL_MAX_LENGTH:,} characters",
                    ErrorCode.INVALID_IMAGE_URL,
                )
            )
    if not MIN_WEIGHT_GRAMS <= spec.weight_grams <= MAX_WEIGHT_GRAMS:
        out.append(
            Violation(
                f"{prefix}weight_grams",
                f"must be {MIN_WEIGHT_GRAMS} to {MAX_WEIGHT_GRAMS:,} grams",
                ErrorCode.WEIGHT_OUT_OF_RANGE,
            )
        )
    for name in ("length_mm", "width_mm", "height_mm"):
        if not 0 <= getattr(spec.dimensions, name) <= MAX_DIMENSION_MM:
            out.append(
                Violation(
                    f"{prefix}dimensions.{name}",
                    f"must be 0 to {MAX_DIMENSION_MM:,} mm",
                    ErrorCode.DIMENSIONS_OUT_OF_RANGE,
                )
            )
    _check_options(spec.options, prefix, out)
    out.extend(check_skus(spec.options, spec.skus, prefix))
    return out


def normalized(spec: ProductSpec) -> ProductSpec:
    """``spec`` trimmed, names cleaned (``clean_text``), the slug derived when empty, IDR for no currency."""
    title = clean_text(spec.title)
    return replace(
        spec,
        title=title,
        slug=spec.slug.strip() or slugify(title),
        description=spec.description.strip(),
        attributes=tuple(Attribute(clean_text(a.name), a.value.strip()) for a in spec.attributes),
        image_urls=tuple(url.strip() for url in spec.image_urls),
        options=tuple(
            ProductOption(clean_text(option.name), tuple(clean_text(value) for value in option.values))
            for option in spec.options
        ),
        skus=tuple(
            replace(
                sku,
                code=sku.code.strip(),
                price=Money(sku.price.amount, sku.price.currency.strip().upper() or CURRENCY),
                # Cleaned as the option names and values are, so that they still match.
                option_values={clean_text(k): clean_text(v) for k, v in sku.option_values.items()},
            )
            for sku in spec.skus
        ),
    )


def new_product(
    *,
    product_id: str,
    shop_id: str,
    spec: ProductSpec,
    now: datetime,
    new_id: Callable[[], str],
    sku_ids: Mapping[str, str] | None = None,
) -> Product:
    """A new product of ``shop_id``; raise ``ValidationFailed`` listing every broken rule.

    Its SKUs get ids from ``new_id``, or from ``sku_ids`` (by code) for an import that brings its own.
    """
    spec = normalized(spec)
    raise_if(check_product(spec, creating=True))
    assert spec.condition is not None  # checked above
    assert spec.status is not None
    return Product(
        id=product_id,
        shop_id=shop_id,
        category_id=spec.category_id,
        title=spec.title,
        slug=spec.slug,
        description=spec.description,
        condition=spec.condition,
        status=spec.status,
        attributes=spec.attributes,
        image_urls=spec.image_urls,
        weight_grams=spec.weight_grams,
        dimensions=spec.dimensions,
        options=spec.options,
        skus=tuple(_new_skus(spec.skus, sku_ids or {}, new_id)),
        created_at=now,
        updated_at=now,
    )


def _new_skus(
    specs: Iterable[SkuSpec], ids_by_code: Mapping[str, str], new_id: Callable[[], str]
) -> list[Sku]:
    return [
        Sku(
            id=ids_by_code.get(spec.code) or new_id(),
            code=spec.code,
            option_values=dict(spec.option_values),
            price=spec.price,
        )
        for spec in specs
    ]


def check_update_mask(paths: Iterable[str], prefix: str = "update_mask") -> list[str]:
    """The mask's fields in reporting order; raise ``ValidationFailed`` on an empty mask or unknown path."""
    requested = list(paths)
    unknown = [path for path in requested if path not in UPDATABLE_FIELDS]
    if unknown or not requested:
        description = (
            f"unknown fields {', '.join(unknown)}; allowed: {', '.join(UPDATABLE_FIELDS)}"
            if unknown
            else "name at least one field to change"
        )
        raise ValidationFailed([Violation(f"{prefix}.paths", description, ErrorCode.INVALID_UPDATE_MASK)])
    return [name for name in UPDATABLE_FIELDS if name in requested]


def update_product(
    product: Product,
    *,
    changes: ProductSpec,
    mask: Iterable[str],
    now: datetime,
    new_id: Callable[[], str],
) -> tuple[Product, tuple[str, ...]]:
    """The product with the masked fields taken from ``changes``, and the names of those that changed.

    SKUs whose code is kept keep their id. Nothing changes (same version, no fields
    reported) when the new values equal the old.
    """
    if product.status is ProductStatus.ARCHIVED:
        raise ArchivedProductError(f"product {product.id} is archived")
    fields = check_update_mask(mask)
    current = product.spec()
    # An empty slug in the mask is derived again from the (possibly new) title, as on create.
    merged = normalized(replace(current, **{name: getattr(changes, name) for name in fields}))
    raise_if(check_product(merged, prefix="product."))
    changed = tuple(name for name in fields if getattr(merged, name) != getattr(current, name))
    if not changed:
        return product, ()
    assert merged.condition is not None  # checked above
    assert merged.status is not None
    skus = product.skus
    if "skus" in changed:
        skus = tuple(_new_skus(merged.skus, {sku.code: sku.id for sku in product.skus}, new_id))
    updated = replace(
        product,
        category_id=merged.category_id,
        title=merged.title,
        slug=merged.slug,
        description=merged.description,
        condition=merged.condition,
        status=merged.status,
        attributes=merged.attributes,
        image_urls=merged.image_urls,
        weight_grams=merged.weight_grams,
        dimensions=merged.dimensions,
        options=merged.options,
        skus=skus,
        updated_at=now,
        version=product.version + 1,
    )
    return updated, changed


def archive_product(product: Product, *, now: datetime) -> tuple[Product, bool]:
    """The product archived, and whether that changed anything (archiving twice is harmless)."""
    if product.status is ProductStatus.ARCHIVED:
        return product, False
    return replace(product, status=ProductStatus.ARCHIVED, updated_at=now, version=product.version + 1), True


def new_category(*, category_id: str, parent: Category | None, name: str, slug: str) -> Category:
    """A category under ``parent`` (or at the root); raise ``ValidationFailed`` on a bad name or slug."""
    name = clean_text(name)
    slug = slug.strip() or slugify(name)
    out: list[Violation] = []
    _check_name(out, "name", name, (1, CATEGORY_NAME_MAX_LENGTH), ErrorCode.INVALID_CATEGORY_NAME)
    if not is_valid_slug(slug):
        out.append(
            Violation(
                "slug",
                SLUG_RULE,
                ErrorCode.INVALID_SLUG,
            )
        )
    raise_if(out)
    path = (*parent.path, category_id) if parent else (category_id,)
    return Category(id=category_id, parent_id=parent.id if parent else None, name=name, slug=slug, path=path)
