"""The catalog's use cases: one function per command or query, one transaction each.

Handlers take keyword-only arguments, the caller's principal among them, and
return the resources as protobuf messages (the form they are cached, published
and answered in). The events a write raises are staged in its unit of work and
committed with it; the product cache is invalidated after the commit.

Who may see what: anyone sees active products; drafts only their shop and
admins (others get NOT_FOUND, as if they did not exist); archived products stay
readable by id, for order history, but are listed only for their shop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.auth import Principal
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import Page, PageSpec, bad_page_token, decode_token, encode_token, id_after
from toko.platform.rules import Violation
from toko.platform.validation import invalid, ruled
from toko.product.v1 import events_pb2
from toko.product.v1 import product_pb2 as pb
from toko.services.product.domain import catalog as domain
from toko.services.product.domain.catalog import (
    ArchivedProductError,
    Condition,
    Product,
    ProductSpec,
    ProductStatus,
)
from toko.services.product.error_codes import ErrorCode
from toko.services.product.handlers.common import (
    SOURCE,
    Catalog,
    authorize_shop,
    forget_products,
    product_cache_key,
)
from toko.services.product.mapping.catalog import category_to_proto, product_to_proto, sku_view_to_proto
from toko.services.product.mapping.storefront import refresh_countdowns
from toko.services.product.repository.catalog import (
    CatalogRepository,
    ProductFilter,
    ProductOrder,
    ProductPosition,
)
from toko.services.product.repository.pricing import PricingRepository
from toko.services.product.repricing import price_product

# How many numbered slugs (``kaos-polos``, ``kaos-polos-2`` …) one look-up for a free one tries.
SLUG_CANDIDATES = 20
# How often a create chooses again after concurrent creates took the slugs it chose. Each lost
# attempt means a concurrent create of the same title committed, so this bound only stops a
# pathological loop; n creates of one title at once need up to n - 1 retries.
SLUG_ATTEMPTS = 20
PRODUCT_PAGES = PageSpec(default=20, maximum=100)
CATEGORY_PAGES = PageSpec(default=50, maximum=200)
MAX_BATCH_SKUS = 100
CREATE_PRODUCT_OPERATION = "product.CreateProduct"

T = TypeVar("T")


# --- commands and queries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateCategory:
    """Add a category at the root (empty ``parent_id``) or under a parent."""

    parent_id: str
    name: str
    slug: str = ""


@dataclass(frozen=True)
class CreateProduct:
    """Add a product to a shop's catalog.

    ``sku_ids`` (by SKU code) is for imports that bring their own ids, such as the demo seed, whose
    SKU ids the inventory recognises (``toko.platform.demo.demo_sku_id``); callers leave it empty.
    """

    shop_id: str
    spec: ProductSpec
    sku_ids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UpdateProduct:
    """Change the fields of a product named in ``mask`` to their values in ``changes``."""

    product_id: str
    changes: ProductSpec
    mask: tuple[str, ...]


@dataclass(frozen=True)
class ListProducts:
    """A page of products, newest first unless ``order_by`` says otherwise; ``status`` None means active."""

    page_size: int = 0
    page_token: str = ""
    category_id: str = ""
    shop_id: str = ""
    status: ProductStatus | None = None
    min_price: int = 0
    max_price: int = 0
    order_by: str = ""
    condition: Condition | None = None


# --- categories ---------------------------------------------------------------------------------------------


async def create_category(*, catalog: Catalog, command: CreateCategory, principal: Principal) -> pb.Category:
    """Add a category; only admins shape the tree."""
    if not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins create categories")
    parent_id = _optional_id(command.parent_id, "parent_id")
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = CatalogRepository(uow.session)
        parent = None
        if parent_id is not None:
            parent = await repository.get_category(parent_id)
            if parent is None:
                raise InvalidArgument.field("parent_id", "no such category", ErrorCode.CATEGORY_NOT_FOUND)
        category = _ruled(
            partial(
                domain.new_category, category_id=new_id(), parent=parent, name=command.name, slug=command.slug
            )
        )
        await repository.add_category(category)
        await uow.commit()
    return category_to_proto(category)


async def get_category(*, catalog: Catalog, category_id: str) -> pb.Category:
    """One category."""
    require_id(category_id, "id")
    async with catalog.database.sessions() as session:
        category = await CatalogRepository(session).get_category(category_id)
    if category is None:
        raise NotFound(ErrorCode.CATEGORY_NOT_FOUND, f"no category {category_id}")
    return category_to_proto(category)


async def list_categories(
    *, catalog: Catalog, parent_id: str = "", page_size: int = 0, page_token: str = ""
) -> Page[pb.Category]:
    """Categories in creation order, optionally only the direct children of ``parent_id``."""
    size = CATEGORY_PAGES.size(page_size)
    parent = _optional_id(parent_id, "parent_id")
    filters = [parent or ""]
    after = id_after(page_token, filters)
    async with catalog.database.sessions() as session:
        found = await CatalogRepository(session).list_categories(
            parent_id=parent, after=after, limit=size + 1
        )
    token = encode_token([found[size - 1].id], filters) if len(found) > size else ""
    return Page([category_to_proto(c) for c in found[:size]], token)


# --- products -----------------------------------------------------------------------------------------------


async def create_product(
    *, catalog: Catalog, command: CreateProduct, principal: Principal, idempotency_key: str = ""
) -> pb.Product:
    """Add a product with its SKUs; a retry with the same idempotency key gets the first answer."""
    shop_id = require_id(command.shop_id, "shop_id")
    authorize_shop(principal, shop_id)
    async with catalog.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation=CREATE_PRODUCT_OPERATION,
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.Product.FromString(replay.stored)
            repository = CatalogRepository(uow.session)
            problems = await _category_problems(repository, command.spec.category_id, "category_id")
            now = catalog.clock()
            product = _ruled(
                partial(
                    domain.new_product,
                    product_id=new_id(),
                    shop_id=shop_id,
                    spec=command.spec,
                    now=now,
                    new_id=new_id,
                    sku_ids=command.sku_ids,
                ),
                also=problems,
            )
            (product,) = await _add_with_free_slugs(
                repository, [product], derived=[domain.derives_slug(command.spec)]
            )
            await price_product(
                uow, sku_ids=[sku.id for sku in product.skus], actor=principal.subject, now=now
            )
            (message,) = await _shown(uow.session, [product], now)
            uow.publish(events_pb2.ProductCreated(product=message), subject=product.id)
            replay.response = message
        await uow.commit()
    return message


async def create_products(
    *, catalog: Catalog, commands: Sequence[CreateProduct], principal: Principal
) -> list[pb.Product]:
    """Add several products in one transaction, all or none (bulk imports, the demo seed)."""
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = CatalogRepository(uow.session)
        checked: dict[str, list[Violation]] = {}
        created: list[Product] = []
        for index, command in enumerate(commands):
            shop_id = require_id(command.shop_id, f"commands[{index}].shop_id")
            authorize_shop(principal, shop_id)
            category_id = command.spec.category_id
            if category_id not in checked:
                checked[category_id] = await _category_problems(repository, category_id, "category_id")
            created.append(
                _ruled(
                    partial(
                        domain.new_product,
                        product_id=new_id(),
                        shop_id=shop_id,
                        spec=command.spec,
                        now=catalog.clock(),
                        new_id=new_id,
                        sku_ids=command.sku_ids,
                    ),
                    also=checked[category_id],
                )
            )
        created = await _add_with_free_slugs(
            repository, created, derived=[domain.derives_slug(command.spec) for command in commands]
        )
        await price_product(
            uow,
            sku_ids=[sku.id for product in created for sku in product.skus],
            actor=principal.subject,
            now=catalog.clock(),
        )
        messages = await _shown(uow.session, created, catalog.clock())
        for message in messages:
            uow.publish(events_pb2.ProductCreated(product=message), subject=message.id)
        await uow.commit()
    return messages


async def get_product(*, catalog: Catalog, product_id: str, principal: Principal) -> pb.Product:
    """A product by id with its SKUs' offers, from the cache when it is there (no database round trip).

    The cached product is dropped whenever what it shows changes: by the writes, by the price
    scheduler as a schedule or campaign window opens or closes, and by our consumer of the
    price and availability events.
    """
    require_id(product_id, "id")
    data = await catalog.cache.get_or_load(
        product_cache_key(product_id), partial(_load_product, catalog, product_id)
    )
    if data is None:
        raise _product_not_found(product_id)
    product = pb.Product.FromString(data)
    if product.status == pb.PRODUCT_STATUS_DRAFT and not principal.manages(product.shop_id):
        raise _product_not_found(product_id)
    refresh_countdowns(product.skus, catalog.clock())
    return product


async def _load_product(catalog: Catalog, product_id: str) -> bytes | None:
    async with catalog.database.sessions() as session:
        product = await CatalogRepository(session).get_product(product_id)
        if product is None:
            return None
        (shown,) = await _shown(session, [product], catalog.clock())
    return shown.SerializeToString()


async def _shown(session: AsyncSession, products: Sequence[Product], now: datetime) -> list[pb.Product]:
    """Products on the wire as a storefront shows them at ``now``: each SKU with its offer.

    Every answer and event carrying a product carries it so, as of its moment.
    """
    offers = await PricingRepository(session).offers([sku.id for p in products for sku in p.skus], now)
    return [product_to_proto(product, offers, now) for product in products]


async def get_product_by_slug(
    *, catalog: Catalog, shop_id: str, slug: str, principal: Principal
) -> pb.Product:
    """A product by its shop and slug, as in a storefront URL; only active ones for the public."""
    require_id(shop_id, "shop_id")
    if domain.is_valid_slug(slug):
        async with catalog.database.sessions() as session:
            product = await CatalogRepository(session).get_product_by_slug(shop_id, slug)
            if product is not None and (product.status is ProductStatus.ACTIVE or principal.manages(shop_id)):
                (shown,) = await _shown(session, [product], catalog.clock())
                return shown
    raise NotFound(ErrorCode.PRODUCT_NOT_FOUND, f"shop {shop_id} has no product {slug!r}")


async def list_products(*, catalog: Catalog, query: ListProducts, principal: Principal) -> Page[pb.Product]:
    """A page of products matching the filters, in the order asked for (newest first by default)."""
    size = PRODUCT_PAGES.size(query.page_size)
    order = _product_order(query.order_by)
    shop_id = _optional_id(query.shop_id, "shop_id")
    category_id = _optional_id(query.category_id, "category_id")
    status = query.status or ProductStatus.ACTIVE
    if status is not ProductStatus.ACTIVE and not (shop_id is not None and principal.manages(shop_id)):
        raise PermissionDenied(
            ErrorCode.NOT_SHOP_OWNER, f"only a shop lists its own {status.value} products (filter by shop_id)"
        )
    problems: list[Violation] = []
    if query.min_price < 0:
        problems.append(Violation("min_price", "must not be negative", ErrorCode.PRICE_OUT_OF_RANGE))
    if query.max_price < 0 or (query.max_price and query.max_price < query.min_price):
        problems.append(
            Violation("max_price", "must be 0 (no bound) or at least min_price", ErrorCode.PRICE_OUT_OF_RANGE)
        )
    if problems:
        raise invalid(problems)
    condition = query.condition.value if query.condition is not None else ""
    filters = [
        category_id or "",
        shop_id or "",
        status.value,
        query.min_price,
        query.max_price,
        order.value,
        condition,
    ]
    after = _product_position(query.page_token, filters, order)
    where = ProductFilter(
        status=status,
        category_id=category_id,
        shop_id=shop_id,
        min_price=query.min_price,
        max_price=query.max_price,
        condition=query.condition,
    )
    async with catalog.database.sessions() as session:
        found = await CatalogRepository(session).list_products(
            where, order=order, after=after, limit=size + 1
        )
        shown = await _shown(session, [product for product, _ in found[:size]], catalog.clock())
    token = ""
    if len(found) > size:
        _, last = found[size - 1]
        key = [last.id] if order is ProductOrder.NEWEST else [last.min_price, last.id]
        token = encode_token(key, filters)
    return Page(shown, token)


async def update_product(*, catalog: Catalog, command: UpdateProduct, principal: Principal) -> pb.Product:
    """Change the masked fields; SKUs whose code is kept keep their id. No change, no new version."""
    product_id = require_id(command.product_id, "product.id")
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = CatalogRepository(uow.session)
        current = await _product_to_change(repository, product_id, principal)
        problems: list[Violation] = []
        if "category_id" in command.mask and command.changes.category_id != current.category_id:
            problems = await _category_problems(
                repository, command.changes.category_id, "product.category_id"
            )
        updated, changed = _ruled(
            partial(
                domain.update_product,
                current,
                changes=command.changes,
                mask=command.mask,
                now=catalog.clock(),
                new_id=new_id,
            ),
            also=problems,
        )
        if "slug" in changed and domain.derives_slug(command.changes):
            (updated,) = await _free_slugs(repository, [updated], derived=[True])
            if updated.slug == current.slug:
                changed = tuple(name for name in changed if name != "slug")
        if not changed:
            (unchanged,) = await _shown(uow.session, [current], catalog.clock())
            return unchanged
        await repository.save_product(updated, skus_changed="skus" in changed)
        if "skus" in changed:
            await price_product(
                uow,
                sku_ids=[sku.id for sku in updated.skus],
                actor=principal.subject,
                now=updated.updated_at,
                prefix="product.",
            )
        (message,) = await _shown(uow.session, [updated], updated.updated_at)
        uow.publish(events_pb2.ProductUpdated(product=message, changed_fields=changed), subject=product_id)
        if updated.status is ProductStatus.ARCHIVED:
            uow.publish(
                events_pb2.ProductArchived(product_id=product_id, shop_id=updated.shop_id), subject=product_id
            )
        await uow.commit()
    await forget_products(catalog, [product_id])
    return message


async def archive_product(*, catalog: Catalog, product_id: str, principal: Principal) -> pb.Product:
    """Take a product off sale for good; archiving an archived product changes nothing."""
    require_id(product_id, "id")
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = CatalogRepository(uow.session)
        current = await _product_to_change(repository, product_id, principal)
        archived, changed = domain.archive_product(current, now=catalog.clock())
        if not changed:
            (unchanged,) = await _shown(uow.session, [current], catalog.clock())
            return unchanged
        await repository.save_product(archived, skus_changed=False)
        uow.publish(
            events_pb2.ProductArchived(product_id=product_id, shop_id=archived.shop_id), subject=product_id
        )
        (message,) = await _shown(uow.session, [archived], archived.updated_at)
        await uow.commit()
    await forget_products(catalog, [product_id])
    return message


async def batch_get_skus(
    *, catalog: Catalog, sku_ids: Sequence[str], principal: Principal
) -> list[pb.SkuView]:
    """SKUs by id with their product facts, in the order asked; unknown (and others' draft) ones left out."""
    if not sku_ids:
        raise InvalidArgument.field("ids", "name at least one SKU id", ErrorCode.INVALID_ID)
    if len(sku_ids) > MAX_BATCH_SKUS:
        raise InvalidArgument.field("ids", f"at most {MAX_BATCH_SKUS} ids", ErrorCode.TOO_MANY_IDS)
    bad = [
        Violation(f"ids[{i}]", "must be a UUID", ErrorCode.INVALID_ID)
        for i, sku_id in enumerate(sku_ids)
        if not is_id(sku_id)
    ]
    if bad:
        raise invalid(bad)
    now = catalog.clock()
    async with catalog.database.sessions() as session:
        found = await CatalogRepository(session).get_skus(sku_ids)
        offers = await PricingRepository(session).offers(list(found), now)
    views = (found.get(sku_id) for sku_id in sku_ids)
    return [
        sku_view_to_proto(view, offers.get(view.sku.id), now)
        for view in views
        if view is not None
        and (view.product_status is not ProductStatus.DRAFT or principal.manages(view.shop_id))
    ]


# --- helpers ------------------------------------------------------------------------------------------------


async def _add_with_free_slugs(
    repository: CatalogRepository, created: Sequence[Product], *, derived: Sequence[bool]
) -> list[Product]:
    """Insert new products; a derived slug the shop has already gets the first free number (``-2``, ``-3`` …).

    Race-safe: two creates choosing the same slug meet at the shop's unique slug index; the one
    that waited there for the other's commit looks again and takes the next free number. A slug
    the seller set stays theirs to change (SLUG_TAKEN).
    """
    attempts = 0
    while True:
        attempts += 1
        placed = await _free_slugs(repository, created, derived=derived)
        try:
            await repository.add_products(*placed)
        except AlreadyExists as exc:
            if exc.reason is not ErrorCode.SLUG_TAKEN or attempts == SLUG_ATTEMPTS:
                raise
            if not await _lost_a_slug(repository, placed, derived):
                raise  # a slug the seller set is taken: choosing again changes nothing
            continue
        return placed


async def _free_slugs(
    repository: CatalogRepository, products: Sequence[Product], *, derived: Sequence[bool]
) -> list[Product]:
    """``products`` with each derived slug replaced by its first number no other product of the shop has."""
    ids = [product.id for product in products]
    # Slugs of this batch are spoken for too: the seller's, and the ones already chosen.
    chosen = {(p.shop_id, p.slug) for p, derive in zip(products, derived, strict=True) if not derive}
    placed: list[Product] = []
    for product, derive in zip(products, derived, strict=True):
        if not derive:
            placed.append(product)
            continue
        slug = await _free_slug(repository, product.shop_id, product.slug, besides=ids, chosen=chosen)
        chosen.add((product.shop_id, slug))
        placed.append(replace(product, slug=slug))
    return placed


async def _free_slug(
    repository: CatalogRepository,
    shop_id: str,
    base: str,
    *,
    besides: Sequence[str],
    chosen: set[tuple[str, str]],
) -> str:
    first = 1
    while True:
        candidates = [domain.numbered_slug(base, n) for n in range(first, first + SLUG_CANDIDATES)]
        taken = await repository.taken_slugs(shop_id, candidates, besides=besides)
        for slug in candidates:
            if slug not in taken and (shop_id, slug) not in chosen:
                return slug
        first += SLUG_CANDIDATES


async def _lost_a_slug(
    repository: CatalogRepository, placed: Sequence[Product], derived: Sequence[bool]
) -> bool:
    """Whether another product now has a slug chosen for ``placed`` (a concurrent create committed it)."""
    ids = [product.id for product in placed]
    for product, derive in zip(placed, derived, strict=True):
        if derive and await repository.taken_slugs(product.shop_id, [product.slug], besides=ids):
            return True
    return False


async def _product_to_change(repository: CatalogRepository, product_id: str, principal: Principal) -> Product:
    # Locked until commit: concurrent updates of one product queue up rather than overwrite each other.
    product = await repository.get_product(product_id, for_update=True)
    if product is None or (product.status is ProductStatus.DRAFT and not principal.manages(product.shop_id)):
        raise _product_not_found(product_id)
    authorize_shop(principal, product.shop_id)
    return product


def _product_not_found(product_id: str) -> NotFound:
    return NotFound(ErrorCode.PRODUCT_NOT_FOUND, f"no product {product_id}")


async def _category_problems(repository: CatalogRepository, category_id: str, path: str) -> list[Violation]:
    if not is_id(category_id):
        return [Violation(path, "must be a UUID", ErrorCode.INVALID_ID)]
    if await repository.get_category(category_id) is None:
        return [Violation(path, "no such category", ErrorCode.CATEGORY_NOT_FOUND)]
    return []


def _optional_id(value: str, path: str) -> str | None:
    return require_id(value, path) if value else None


# What order_by may say (AIP-132), and the order each means.
_PRODUCT_ORDERS = {
    "": ProductOrder.NEWEST,
    "create_time desc": ProductOrder.NEWEST,
    "price": ProductOrder.CHEAPEST,
    "price asc": ProductOrder.CHEAPEST,
    "price desc": ProductOrder.DEAREST,
}


def _product_order(order_by: str) -> ProductOrder:
    order = _PRODUCT_ORDERS.get(" ".join(order_by.lower().split()))
    if order is None:
        raise InvalidArgument.field(
            "order_by",
            'must be "create_time desc", "price", "price asc" or "price desc"',
            ErrorCode.INVALID_ORDER_BY,
        )
    return order


def _product_position(
    token: str, filters: Sequence[str | int], order: ProductOrder
) -> ProductPosition | None:
    if order is ProductOrder.NEWEST:
        after = id_after(token, filters)
        return None if after is None else ProductPosition(after)
    key = decode_token(token, filters, 2)
    if key is None:
        return None
    price, product_id = key
    if not isinstance(price, int) or not isinstance(product_id, str) or not is_id(product_id):
        raise bad_page_token()
    return ProductPosition(product_id, price)


def _ruled(build: Callable[[], T], *, also: Sequence[Violation] = ()) -> T:
    """Apply the domain's rules (``ruled``); an archived product that cannot change fails its precondition."""
    try:
        return ruled(build, also=also)
    except ArchivedProductError as exc:
        raise FailedPrecondition(exc.reason, str(exc)) from exc
