"""What the product service's use cases share: their dependencies, who manages a shop or SKU, retried writes.

Also the cache key of a product and how a use case drops it after its commit (the
consumers invalidate it too), and the time-keyed page tokens of the pricing listings.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from google.protobuf.message import Message

from toko.platform.auth import Principal
from toko.platform.cache import CacheUnavailable, ReadThroughCache
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.errors import NotFound, PermissionDenied
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id
from toko.platform.pagination import bad_page_token
from toko.services.product.error_codes import ErrorCode
from toko.services.product.repository.pricing import PriceState, PricingRepository

log = logging.getLogger(__name__)

SOURCE = "product"

MessageT = TypeVar("MessageT", bound=Message)


@dataclass(frozen=True)
class Catalog:
    """What the use cases work with: the database, the product cache, a clock and how long a quote holds."""

    database: Database
    cache: ReadThroughCache
    clock: Clock = field(default=utcnow)
    quote_ttl: timedelta = timedelta(minutes=5)
    # Set after a commit that added schedule or campaign boundaries, so the price scheduler, idle
    # for up to its idle interval, looks again for the next one due.
    boundaries_added: asyncio.Event = field(default_factory=asyncio.Event)


def product_cache_key(product_id: str) -> str:
    """The cache key of a product's serialized ``Product`` message."""
    return f"product:{product_id}"


async def forget_products(catalog: Catalog, product_ids: Iterable[str]) -> None:
    """Drop products from the read cache after a commit that changed what they show."""
    keys = [product_cache_key(product_id) for product_id in dict.fromkeys(product_ids)]
    try:
        await catalog.cache.invalidate(*keys)
    except CacheUnavailable:
        # Our consumer of the change's own event invalidates them again once Valkey is back.
        log.warning("cannot invalidate cached products", extra={"product_ids": list(product_ids)})


def authorize_shop(principal: Principal, shop_id: str) -> None:
    """Refuse a caller who does not manage ``shop_id`` (its seller, or an admin)."""
    if not principal.manages(shop_id):
        raise PermissionDenied(ErrorCode.NOT_SHOP_OWNER, f"you do not manage shop {shop_id}")


async def sku_to_manage(
    uow: UnitOfWork, sku_id: str, principal: Principal, now: datetime, *, lock: bool = True
) -> PriceState:
    """A SKU's pricing state, if the caller manages its shop; ``lock`` holds its pricing row until commit."""
    # Locked until commit: writers of one SKU's pricing queue up.
    states = await PricingRepository(uow.session).lock_pricing([sku_id], now.date(), lock=lock)
    state = states.get(sku_id)
    if state is None:
        raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {sku_id}")
    authorize_shop(principal, state.shop_id)
    return state


async def run_idempotent(
    catalog: Catalog,
    *,
    operation: str,
    principal: Principal,
    idempotency_key: str,
    request: Message,
    reply_type: type[MessageT],
    work: Callable[[UnitOfWork], Awaitable[MessageT]],
) -> MessageT:
    """Run ``work`` in one unit of work; a retry with the same key replays the first reply."""
    async with catalog.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session, operation=operation, caller=principal.subject, key=idempotency_key, command=request
        ) as replay:
            if replay.stored is not None:
                return reply_type.FromString(replay.stored)
            reply = await work(uow)
            replay.response = reply
        await uow.commit()
    return reply


def time_key(key: list[str | int] | None) -> tuple[datetime, str] | None:
    """The ``(time, id)`` position a decoded page token continues after; raise when it is not one."""
    if key is None:
        return None
    instant, ident = key
    try:
        parsed = datetime.fromisoformat(str(instant))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or not is_id(str(ident)):
        raise bad_page_token()
    return parsed.astimezone(UTC), str(ident)
