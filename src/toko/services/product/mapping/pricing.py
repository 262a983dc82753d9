"""Conversions between pricing's protobuf messages and its domain and storage objects."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from toko.product.v1 import pricing_pb2 as ppb
from toko.services.product.domain.pricing import ChangeSource, PriceSource, RuleKind, Tier, Window
from toko.services.product.mapping.common import money, timestamp
from toko.services.product.repository.pricing import CampaignRow, HistoryRow, PriceState, ScheduleRow

PRICE_SOURCE_TO_PROTO = {
    PriceSource.BASE: ppb.PRICE_SOURCE_BASE,
    PriceSource.SCHEDULE: ppb.PRICE_SOURCE_SCHEDULE,
    PriceSource.CAMPAIGN: ppb.PRICE_SOURCE_CAMPAIGN,
    PriceSource.TIER: ppb.PRICE_SOURCE_TIER,
    PriceSource.DYNAMIC: ppb.PRICE_SOURCE_DYNAMIC,
}
CHANGE_SOURCE_TO_PROTO = {
    ChangeSource.MANUAL: ppb.PRICE_CHANGE_SOURCE_MANUAL,
    ChangeSource.SCHEDULE: ppb.PRICE_CHANGE_SOURCE_SCHEDULE,
    ChangeSource.CAMPAIGN: ppb.PRICE_CHANGE_SOURCE_CAMPAIGN,
    ChangeSource.DYNAMIC: ppb.PRICE_CHANGE_SOURCE_DYNAMIC,
    ChangeSource.TIER: ppb.PRICE_CHANGE_SOURCE_TIER,
}
RULE_KIND_TO_PROTO = {
    RuleKind.LOWER_WHEN_OVERSTOCKED: ppb.DYNAMIC_RULE_KIND_LOWER_WHEN_OVERSTOCKED,
    RuleKind.RAISE_WHEN_LOW_STOCK: ppb.DYNAMIC_RULE_KIND_RAISE_WHEN_LOW_STOCK,
}
RULE_KIND_FROM_PROTO: dict[int, RuleKind] = {int(n): kind for kind, n in RULE_KIND_TO_PROTO.items()}


def countdown(window: Window, now: datetime) -> ppb.Countdown:
    """How long a window has to go, as of ``now`` (whole seconds, rounded up while running)."""
    to_start = max(0, math.ceil((window.start - now).total_seconds()))
    to_end = max(0, math.ceil((window.end - now).total_seconds()))
    return ppb.Countdown(
        start_time=timestamp(window.start),
        end_time=timestamp(window.end),
        seconds_to_start=to_start,
        seconds_to_end=to_end,
    )


def change_to_proto(row: HistoryRow) -> ppb.PriceChange:
    """A recorded price change on the wire."""
    change = ppb.PriceChange(
        id=row.id,
        sku_id=row.sku_id,
        new_price=money(row.new_price, row.currency),
        source=CHANGE_SOURCE_TO_PROTO[row.source],
        rule_id=row.rule_id or "",
        actor=row.actor,
        change_time=timestamp(row.changed_at),
    )
    if row.old_price is not None:
        change.old_price.CopyFrom(money(row.old_price, row.currency))
    return change


def pricing_to_proto(state: PriceState) -> ppb.SkuPricing:
    """A SKU's pricing on the wire."""
    message = ppb.SkuPricing(
        sku_id=state.sku_id,
        product_id=state.product_id,
        shop_id=state.shop_id,
        base_price=money(state.base, state.currency),
        tiers=[
            ppb.QuantityTier(min_quantity=t.min_quantity, unit_price=money(t.unit_price)) for t in state.tiers
        ],
        dynamic_rules=[
            ppb.DynamicRule(id=r.id, kind=RULE_KIND_TO_PROTO[r.kind], percent=r.percent, days=r.days)
            for r in state.rules
        ],
        current_price=money(state.current_price if state.current_price is not None else state.base),
        current_source=PRICE_SOURCE_TO_PROTO[state.current_source],
    )
    if state.bounds.floor is not None:
        message.floor_price.CopyFrom(money(state.bounds.floor))
    if state.bounds.ceiling is not None:
        message.ceiling_price.CopyFrom(money(state.bounds.ceiling))
    if state.dynamic_price is not None:
        message.dynamic_price.CopyFrom(money(state.dynamic_price))
    return message


def schedule_to_proto(row: ScheduleRow) -> ppb.PriceSchedule:
    """A price schedule on the wire."""
    message = ppb.PriceSchedule(
        id=row.id,
        sku_id=row.sku_id,
        price=money(row.price, row.currency),
        start_time=timestamp(row.window.start),
        end_time=timestamp(row.window.end),
    )
    if row.cancelled_at is not None:
        message.cancel_time.CopyFrom(timestamp(row.cancelled_at))
    return message


def campaign_to_proto(row: CampaignRow, now: datetime) -> ppb.Campaign:
    """A campaign on the wire, with its countdown as of ``now``."""
    return ppb.Campaign(
        id=row.id,
        name=row.name,
        start_time=timestamp(row.window.start),
        end_time=timestamp(row.window.end),
        skus=[
            ppb.CampaignSku(
                sku_id=m.sku_id,
                product_id=m.product_id,
                shop_id=m.shop_id,
                campaign_price=money(m.campaign_price, m.currency),
                quota=m.quota,
                per_buyer_limit=m.per_buyer_limit,
            )
            for m in row.skus
        ],
        countdown=countdown(row.window, now),
    )


def next_tier_to_proto(tier: Tier, currency: str) -> ppb.NextTier:
    """The tier a quoted line would reach by buying more, on the wire."""
    return ppb.NextTier(min_quantity=tier.min_quantity, unit_price=money(tier.unit_price, currency))


def tiers_from_proto(tiers: Iterable[ppb.QuantityTier]) -> tuple[Tier, ...]:
    """Tiers as the seller sent them."""
    return tuple(Tier(t.min_quantity, t.unit_price.amount) for t in tiers)


def rules_from_proto(rules: Iterable[ppb.DynamicRule]) -> list[tuple[RuleKind | None, int, int]]:
    """Rules as the seller sent them: kind (None when unknown), percent, days."""
    return [(RULE_KIND_FROM_PROTO.get(r.kind), r.percent, r.days) for r in rules]
