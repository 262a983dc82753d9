"""A SKU's pricing, managed by its shop's sellers and by admins: bounds, wholesale tiers, dynamic rules.

Also the stock signals (inventory's availability and sales) that the dynamic rules
react to; the availability is kept for product reads too. Every write that can move
the price ends in ``repricing.reprice`` in the same unit of work, so the change, its
history row and its ``PriceChanged`` event commit together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.ids import new_id, require_id
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.product.v1 import events_pb2
from toko.product.v1 import pricing_pb2 as ppb
from toko.services.product.domain import pricing as domain
from toko.services.product.domain.pricing import Bounds, ChangeSource, DynamicRule, RuleKind, Tier
from toko.services.product.domain.storefront import Availability
from toko.services.product.error_codes import ErrorCode
from toko.services.product.handlers.common import SOURCE, Catalog, forget_products, sku_to_manage
from toko.services.product.mapping.pricing import pricing_to_proto
from toko.services.product.mapping.storefront import availability_to_proto
from toko.services.product.repository.pricing import PricingRepository
from toko.services.product.repricing import SYSTEM_ACTOR, Cause, reprice


async def get_sku_pricing(*, catalog: Catalog, sku_id: str, principal: Principal) -> ppb.SkuPricing:
    """Everything that prices a SKU."""
    require_id(sku_id, "sku_id")
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await sku_to_manage(uow, sku_id, principal, catalog.clock(), lock=False)
    return pricing_to_proto(state)


async def set_price_bounds(
    *, catalog: Catalog, sku_id: str, floor: int | None, ceiling: int | None, principal: Principal
) -> ppb.SkuPricing:
    """Set (or with None, remove) the floor and ceiling of a SKU's price: floor ≤ base ≤ ceiling."""
    require_id(sku_id, "sku_id")
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await sku_to_manage(uow, sku_id, principal, now)
        bounds = Bounds(floor, ceiling)
        problems = domain.check_bounds(bounds, state.base)
        if problems:
            raise invalid(problems)
        if bounds.floor is None or bounds.ceiling is None:
            # Dynamic rules work between both bounds; without them they stop.
            await PricingRepository(uow.session).save_state(sku_id, dynamic_rules=[])
        await PricingRepository(uow.session).save_state(sku_id, floor_price=floor, ceiling_price=ceiling)
        states = await reprice(
            uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.DYNAMIC, principal.subject)
        )
        await uow.commit()
    await forget_products(catalog, [state.product_id])
    return pricing_to_proto(states[sku_id])


async def set_quantity_tiers(
    *, catalog: Catalog, sku_id: str, tiers: Sequence[Tier], principal: Principal
) -> ppb.SkuPricing:
    """Replace a SKU's wholesale tiers (they price quantities of two and more, never one unit)."""
    require_id(sku_id, "sku_id")
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await sku_to_manage(uow, sku_id, principal, now)
        problems = domain.check_tiers(tiers, state.base)
        if problems:
            raise invalid(problems)
        stored = [{"min_quantity": t.min_quantity, "unit_price": t.unit_price} for t in tiers]
        await PricingRepository(uow.session).save_state(sku_id, tiers=stored)
        await uow.commit()
    return pricing_to_proto(replace(state, tiers=tuple(tiers)))


async def set_dynamic_rules(
    *,
    catalog: Catalog,
    sku_id: str,
    rules: Sequence[tuple[RuleKind | None, int, int]],
    principal: Principal,
) -> ppb.SkuPricing:
    """Replace a SKU's dynamic rules and apply them to the latest stock signals."""
    require_id(sku_id, "sku_id")
    now = catalog.clock()
    unknown = [
        Violation(f"rules[{i}].kind", "must be a known rule kind", ErrorCode.INVALID_DYNAMIC_RULE)
        for i, (kind, _, _) in enumerate(rules)
        if kind is None
    ]
    if unknown:
        raise invalid(unknown)
    built = [DynamicRule(new_id(), kind, percent, days) for kind, percent, days in rules if kind is not None]
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await sku_to_manage(uow, sku_id, principal, now)
        problems = domain.check_rules(built, state.bounds)
        if problems:
            raise invalid(problems)
        stored = [{"id": r.id, "kind": r.kind.value, "percent": r.percent, "days": r.days} for r in built]
        await PricingRepository(uow.session).save_state(sku_id, dynamic_rules=stored)
        states = await reprice(
            uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.DYNAMIC, principal.subject)
        )
        await uow.commit()
    await forget_products(catalog, [state.product_id])
    return pricing_to_proto(states[sku_id])


# --- stock signals (system) ---------------------------------------------------------------------------------


async def record_availability(
    *, uow: UnitOfWork, sku_id: str, availability: Availability, version: int, now: datetime
) -> None:
    """Keep a SKU's latest availability (older versions are ignored), announce it, re-evaluate its rules.

    The announcement (``SkuAvailabilityChanged``, committed with the change) is what drops the
    SKU's product from the read cache: its consumer runs after this commit.
    """
    repository = PricingRepository(uow.session)
    if not await repository.known_skus([sku_id]):
        return
    if not await repository.record_availability(sku_id, availability, version):
        return
    states = await reprice(uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.DYNAMIC, SYSTEM_ACTOR))
    state = states[sku_id]
    uow.publish(
        events_pb2.SkuAvailabilityChanged(
            sku_id=sku_id,
            product_id=state.product_id,
            shop_id=state.shop_id,
            availability=availability_to_proto(availability),
        ),
        subject=sku_id,
    )


async def record_sales(*, uow: UnitOfWork, sold: dict[str, int], day: date, now: datetime) -> None:
    """Add units sold to the SKUs' daily sales and re-evaluate their dynamic rules."""
    repository = PricingRepository(uow.session)
    known = await repository.known_skus(list(sold))
    for sku_id in sorted(known):
        await repository.record_sales(sku_id, day, sold[sku_id])
    if known:
        await reprice(uow, sku_ids=sorted(known), now=now, cause=Cause(ChangeSource.DYNAMIC, SYSTEM_ACTOR))
