"""The one step that changes a SKU's price: re-evaluate, record the change, raise ``PriceChanged``.

Every writer that can move the price of one unit (a seller's base price, bounds,
dynamic rules, a schedule, a campaign, the scheduler at a window's boundary, a
stock signal) calls ``reprice`` inside its own unit of work. It locks the SKUs'
pricing rows, evaluates the dynamic rules and the precedence of ``pricing`` at
``now``, and, where the price of one unit changed, writes a history row and
stages a ``PriceChanged`` event in the same transaction; last it brings the
products' current prices (the order of a listing by price) up to date. Re-pricing
a SKU whose price did not move writes nothing, which makes every caller idempotent.

Lock order, which every writer keeps so that none deadlocks another: a product's
row (catalog writes), then the SKUs' pricing rows in id order, then the products'
current-price rows in id order.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from toko.platform.db import UnitOfWork
from toko.platform.ids import new_id
from toko.platform.validation import invalid
from toko.product.v1 import events_pb2
from toko.services.product.domain import pricing
from toko.services.product.domain.pricing import ChangeSource, PriceSource, PricingFacts
from toko.services.product.mapping.common import money, timestamp
from toko.services.product.mapping.pricing import CHANGE_SOURCE_TO_PROTO
from toko.services.product.repository.pricing import (
    SALES_WINDOW_DAYS,
    HistoryRow,
    PriceState,
    PricingRepository,
)

SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Cause:
    """What triggered a re-evaluation, recorded on the changes it makes (unless a dynamic rule moved it)."""

    source: ChangeSource
    actor: str
    rule_id: str | None = None


def daily_sales_milli(state: PriceState) -> int:
    """Thousandths of a unit sold per day, averaged over the sales window."""
    return state.sold_in_window * pricing.MILLI // SALES_WINDOW_DAYS


async def reprice(
    uow: UnitOfWork, *, sku_ids: list[str], now: datetime, cause: Cause
) -> dict[str, PriceState]:
    """Re-evaluate the SKUs' prices at ``now``; record and announce every change. Returns the new states."""
    return await reprice_each(uow, causes=dict.fromkeys(sku_ids, cause), now=now)


async def reprice_each(
    uow: UnitOfWork, *, causes: Mapping[str, Cause], now: datetime
) -> dict[str, PriceState]:
    """``reprice`` with a cause per SKU: all in one step, so their products' rows are locked in one order."""
    repository = PricingRepository(uow.session)
    states = await repository.lock_pricing(list(causes), now.date())
    if not states:
        return {}
    schedules, campaigns = await repository.windows_at(list(states), now)
    updated: dict[str, PriceState] = {}
    changed: list[PriceState] = []
    recorded: list[HistoryRow] = []
    for sku_id, state in states.items():
        dynamic, dynamic_rule = pricing.evaluate_dynamic(
            base=state.base,
            bounds=state.bounds,
            rules=state.rules,
            available=state.available,
            daily_sales_milli=daily_sales_milli(state),
        )
        facts = PricingFacts(
            base=state.base,
            dynamic=dynamic,
            dynamic_rule_id=dynamic_rule,
            tiers=state.tiers,
            schedules=tuple(s for s in (schedules.get(sku_id),) if s is not None),
            campaigns=tuple(c for c in (campaigns.get(sku_id),) if c is not None),
        )
        resolved = pricing.resolve(facts, at=now, quantity=1)
        new_state = replace(
            state,
            dynamic_price=dynamic,
            dynamic_rule_id=dynamic_rule,
            current_price=resolved.unit_price,
            current_source=resolved.source,
            current_rule_id=resolved.rule_id,
        )
        updated[sku_id] = new_state
        if new_state == state:
            continue
        changed.append(new_state)
        if resolved.unit_price != state.current_price:
            recorded.append(
                _change(state, new_state, now=now, cause=_cause_of(state, new_state, causes[sku_id]))
            )
    # One statement each for every SKU's row and every history row: a product import prices thousands.
    await repository.save_states(changed)
    await repository.add_history(recorded)
    for row in recorded:
        uow.publish(_price_changed(row), subject=row.sku_id)
    # Always, not only when a price moved: a product that lost a SKU has new current prices too.
    await repository.refresh_product_prices([state.product_id for state in updated.values()])
    return updated


def _cause_of(before: PriceState, after: PriceState, cause: Cause) -> Cause:
    # A move of the dynamic price is the rule's doing, whatever woke the evaluation.
    dynamic_moved = before.dynamic_price != after.dynamic_price
    if dynamic_moved and PriceSource.DYNAMIC in (before.current_source, after.current_source):
        return Cause(ChangeSource.DYNAMIC, SYSTEM_ACTOR, after.dynamic_rule_id or before.dynamic_rule_id)
    return cause


def _change(before: PriceState, after: PriceState, *, now: datetime, cause: Cause) -> HistoryRow:
    assert after.current_price is not None  # just resolved
    return HistoryRow(
        id=new_id(),
        sku_id=after.sku_id,
        product_id=after.product_id,
        shop_id=after.shop_id,
        old_price=before.current_price,
        new_price=after.current_price,
        currency=after.currency,
        source=cause.source,
        rule_id=cause.rule_id,
        actor=cause.actor,
        changed_at=now,
    )


def _price_changed(row: HistoryRow) -> events_pb2.PriceChanged:
    event = events_pb2.PriceChanged(
        sku_id=row.sku_id,
        product_id=row.product_id,
        shop_id=row.shop_id,
        new_price=money(row.new_price, row.currency),
        source=CHANGE_SOURCE_TO_PROTO[row.source],
        rule_id=row.rule_id or "",
        time=timestamp(row.changed_at),
        change_id=row.id,
    )
    if row.old_price is not None:
        event.old_price.CopyFrom(money(row.old_price, row.currency))
    return event


async def price_product(
    uow: UnitOfWork, *, sku_ids: list[str], actor: str, now: datetime, prefix: str = ""
) -> None:
    """Price a created or changed product's SKUs at their base price; raise when one breaks its bounds.

    ``sku_ids`` are in the product's order, so a violation names the SKU's field path.
    """
    repository = PricingRepository(uow.session)
    await repository.ensure_pricing_rows(sku_ids)
    states = await repository.lock_pricing(sku_ids, now.date())
    problems = [
        violation
        for i, sku_id in enumerate(sku_ids)
        for violation in pricing.check_within_bounds(
            states[sku_id].base, states[sku_id].bounds, f"{prefix}skus[{i}].price.amount"
        )
    ]
    if problems:
        raise invalid(problems)
    await reprice(uow, sku_ids=sku_ids, now=now, cause=Cause(ChangeSource.MANUAL, actor))
