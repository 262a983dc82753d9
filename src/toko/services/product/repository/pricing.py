"""Persistence of pricing: per-SKU pricing state, history, schedules, campaigns, boundaries, stock signals.

All locking of pricing is here: ``lock_pricing`` takes the SKUs' pricing rows
``FOR UPDATE`` (in id order, so two writers never deadlock), and every change
of a SKU's price happens under that lock; ``refresh_product_prices`` then takes
the products' current-price rows, in id order too; ``claim_due_boundaries`` claims the
scheduler's work with ``FOR UPDATE SKIP LOCKED``. The scheduler is the one writer that takes
a boundary before the pricing rows, so whoever takes them the other way round
(``cancel_schedule``) skips the boundaries it has claimed instead of waiting for them.

The quote's facts come in one round trip (``quote_facts``): one statement with
a LATERAL subquery per concern, each an index probe; so do the offers product reads
show (``offers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, Uuid, bindparam, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.errors import AlreadyExists, FieldViolation
from toko.services.product.domain.pricing import (
    Bounds,
    CampaignPrice,
    ChangeSource,
    DynamicRule,
    PriceSource,
    PricingFacts,
    RuleKind,
    ScheduledPrice,
    Tier,
    Window,
    lowest_price,
)
from toko.services.product.domain.storefront import Availability, FlashSale, SkuOffer
from toko.services.product.error_codes import ErrorCode
from toko.services.product.repository.common import violated_constraint
from toko.services.product.repository.tables import (
    CAMPAIGN_OVERLAP_CONSTRAINT,
    CAMPAIGN_SKU_KEY,
    SCHEDULE_OVERLAP_CONSTRAINT,
    campaign_skus,
    campaigns,
    price_boundaries,
    price_history,
    price_schedules,
    product_current_prices,
    sku_daily_sales,
    sku_pricing,
    sku_stock_signals,
)

SALES_WINDOW_DAYS = 14

_IDS = bindparam("ids", type_=ARRAY(Uuid(as_uuid=False)))
# The evaluated prices of a SKU, run once with every SKU's parameters (``save_states``).
_SAVE_STATE = (
    update(sku_pricing)
    .where(sku_pricing.c.sku_id == bindparam("key"))
    .values(
        dynamic_price=bindparam("dynamic_price"),
        dynamic_rule_id=bindparam("dynamic_rule_id"),
        current_price=bindparam("current_price"),
        current_source=bindparam("current_source"),
        current_rule_id=bindparam("current_rule_id"),
        updated_at=func.now(),
    )
)

# The lowest price in effect during the 30 days before the current price took effect ("since"):
# the price in effect when that window opened, and every price set within it.
_LOWEST_30D = """
LEFT JOIN LATERAL (
    SELECT h.changed_at AS since FROM price_history h
    WHERE h.sku_id = s.id AND h.changed_at <= :at ORDER BY h.changed_at DESC, h.id DESC LIMIT 1
) cur ON true
LEFT JOIN LATERAL (
    SELECT
        (SELECT h.new_price FROM price_history h
         WHERE h.sku_id = s.id AND h.changed_at <= cur.since - interval '30 days'
         ORDER BY h.changed_at DESC, h.id DESC LIMIT 1) AS at_window_start,
        (SELECT min(h.new_price) FROM price_history h
         WHERE h.sku_id = s.id AND h.changed_at > cur.since - interval '30 days'
           AND h.changed_at < cur.since) AS within_window
) low ON true
"""

_QUOTE_FACTS = text(
    f"""
SELECT s.id::text AS sku_id, s.price AS base, s.currency, p.id::text AS product_id,
       p.shop_id::text AS shop_id, p.status, sp.dynamic_price, sp.dynamic_rule_id::text AS dynamic_rule_id,
       sp.tiers, sp.current_price, sp.current_source, c.campaign_id::text AS campaign_id, c.campaign_price,
       c.per_buyer_limit, c.starts_at AS c_start, c.ends_at AS c_end,
       ps.id::text AS schedule_id, ps.price AS schedule_price, ps.starts_at AS s_start, ps.ends_at AS s_end,
       LEAST(
           (SELECT min(cs.starts_at) FROM campaign_skus cs WHERE cs.sku_id = s.id AND cs.starts_at > :at),
           (SELECT min(x.starts_at) FROM price_schedules x
            WHERE x.sku_id = s.id AND x.cancelled_at IS NULL AND x.starts_at > :at)
       ) AS next_start,
       low.at_window_start, low.within_window
FROM skus s
JOIN products p ON p.id = s.product_id
LEFT JOIN sku_pricing sp ON sp.sku_id = s.id
LEFT JOIN LATERAL (
    SELECT cs.campaign_id, cs.campaign_price, cs.per_buyer_limit, cs.starts_at, cs.ends_at
    FROM campaign_skus cs WHERE cs.sku_id = s.id AND cs.starts_at <= :at AND cs.ends_at > :at LIMIT 1
) c ON true
LEFT JOIN LATERAL (
    SELECT x.id, x.price, x.starts_at, x.ends_at FROM price_schedules x
    WHERE x.sku_id = s.id AND x.cancelled_at IS NULL AND x.starts_at <= :at AND x.ends_at > :at LIMIT 1
) ps ON true
{_LOWEST_30D}
WHERE s.id = ANY(:ids)
"""
).bindparams(_IDS)

# What a storefront shows of each SKU: the price of one unit as last re-priced, the flash sale
# that set it, the lowest 30-day price and the availability inventory last reported.
_OFFERS = text(
    f"""
SELECT s.id::text AS sku_id, s.price AS base, sp.current_price, sp.current_source,
       cs.campaign_id::text AS campaign_id, c.name AS campaign_name, cs.campaign_price,
       cs.per_buyer_limit, cs.starts_at AS c_start, cs.ends_at AS c_end,
       sig.in_stock, sig.quantity_bucket,
       low.at_window_start, low.within_window
FROM skus s
LEFT JOIN sku_pricing sp ON sp.sku_id = s.id
LEFT JOIN campaign_skus cs
    ON sp.current_source = 'campaign' AND cs.campaign_id = sp.current_rule_id AND cs.sku_id = s.id
LEFT JOIN campaigns c ON c.id = cs.campaign_id
LEFT JOIN sku_stock_signals sig ON sig.sku_id = s.id
{_LOWEST_30D}
WHERE s.id = ANY(:ids)
"""
).bindparams(_IDS)


# A product's current prices from its SKUs' (a SKU never priced yet costs its base price); written
# only when they moved.
_REFRESH_PRODUCT_PRICES = text(
    """
INSERT INTO product_current_prices AS cur (product_id, min_price, max_price, updated_at)
SELECT s.product_id, min(coalesce(sp.current_price, s.price)), max(coalesce(sp.current_price, s.price)), now()
FROM skus s LEFT JOIN sku_pricing sp ON sp.sku_id = s.id
WHERE s.product_id = ANY(:ids)
GROUP BY s.product_id
ORDER BY s.product_id
ON CONFLICT (product_id) DO UPDATE
SET min_price = excluded.min_price, max_price = excluded.max_price, updated_at = excluded.updated_at
WHERE (cur.min_price, cur.max_price) IS DISTINCT FROM (excluded.min_price, excluded.max_price)
"""
).bindparams(_IDS)


@dataclass(frozen=True)
class QuoteFacts:
    """What one round trip knows about a SKU to quote it at an instant."""

    sku_id: str
    product_id: str
    shop_id: str
    status: str
    currency: str
    facts: PricingFacts
    next_start: datetime | None
    lowest_30d: int


@dataclass(frozen=True)
class PriceState:
    """A SKU's pricing as stored, with its product, stock signals and recent sales (locked for a change)."""

    sku_id: str
    product_id: str
    shop_id: str
    product_status: str
    currency: str
    base: int
    bounds: Bounds
    tiers: tuple[Tier, ...]
    rules: tuple[DynamicRule, ...]
    dynamic_price: int | None
    dynamic_rule_id: str | None
    current_price: int | None
    current_source: PriceSource
    current_rule_id: str | None
    available: int | None
    sold_in_window: int


@dataclass(frozen=True)
class HistoryRow:
    """One recorded price change."""

    id: str
    sku_id: str
    product_id: str
    shop_id: str
    old_price: int | None
    new_price: int
    currency: str
    source: ChangeSource
    rule_id: str | None
    actor: str
    changed_at: datetime


@dataclass(frozen=True)
class ScheduleRow:
    """A stored price schedule."""

    id: str
    sku_id: str
    price: int
    currency: str
    window: Window
    cancelled_at: datetime | None


@dataclass(frozen=True)
class CampaignSkuRow:
    """A SKU of a campaign."""

    sku_id: str
    product_id: str
    shop_id: str
    campaign_price: int
    currency: str
    quota: int
    per_buyer_limit: int


@dataclass(frozen=True)
class CampaignRow:
    """A stored campaign with its SKUs."""

    id: str
    name: str
    window: Window
    skus: tuple[CampaignSkuRow, ...]


@dataclass(frozen=True)
class Boundary:
    """A due instant at which a schedule or campaign starts or ends for a SKU."""

    id: str
    sku_id: str
    kind: ChangeSource
    ref_id: str


def tiers_from_json(raw: Iterable[dict[str, Any]]) -> tuple[Tier, ...]:
    """Tiers as stored."""
    return tuple(Tier(int(t["min_quantity"]), int(t["unit_price"])) for t in raw)


def rules_from_json(raw: Iterable[dict[str, Any]]) -> tuple[DynamicRule, ...]:
    """Dynamic rules as stored."""
    return tuple(DynamicRule(r["id"], RuleKind(r["kind"]), int(r["percent"]), int(r["days"])) for r in raw)


class PricingRepository:
    """Pricing rows in the service's database, within one session's transaction; never commits."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- reads for quotes and views ----------------------------------------------------------------------

    async def quote_facts(self, sku_ids: Sequence[str], at: datetime) -> dict[str, QuoteFacts]:
        """Everything needed to quote these SKUs at ``at``, in one statement."""
        result = await self._session.execute(_QUOTE_FACTS, {"ids": list(sku_ids), "at": at})
        found: dict[str, QuoteFacts] = {}
        for row in result:
            campaigns: tuple[CampaignPrice, ...] = ()
            if row.campaign_id is not None:
                window = Window(row.c_start, row.c_end)
                campaigns = (CampaignPrice(row.campaign_id, row.campaign_price, window, row.per_buyer_limit),)
            schedules: tuple[ScheduledPrice, ...] = ()
            if row.schedule_id is not None:
                schedules = (
                    ScheduledPrice(row.schedule_id, row.schedule_price, Window(row.s_start, row.s_end)),
                )
            current = row.current_price if row.current_price is not None else row.base
            found[row.sku_id] = QuoteFacts(
                sku_id=row.sku_id,
                product_id=row.product_id,
                shop_id=row.shop_id,
                status=row.status,
                currency=row.currency,
                facts=PricingFacts(
                    base=row.base,
                    dynamic=row.dynamic_price,
                    dynamic_rule_id=row.dynamic_rule_id,
                    tiers=tiers_from_json(row.tiers or ()),
                    schedules=schedules,
                    campaigns=campaigns,
                ),
                next_start=row.next_start,
                lowest_30d=_lowest(row, current),
            )
        return found

    async def offers(self, sku_ids: Sequence[str], at: datetime) -> dict[str, SkuOffer]:
        """What a storefront shows of these SKUs at ``at``, in one statement; unknown ids are absent."""
        if not sku_ids:
            return {}
        result = await self._session.execute(_OFFERS, {"ids": list(sku_ids), "at": at})
        found: dict[str, SkuOffer] = {}
        for row in result:
            current = row.current_price if row.current_price is not None else row.base
            flash_sale = None
            if row.campaign_id is not None:
                flash_sale = FlashSale(
                    campaign_id=row.campaign_id,
                    name=row.campaign_name,
                    price=row.campaign_price,
                    window=Window(row.c_start, row.c_end),
                    per_buyer_limit=row.per_buyer_limit,
                )
            availability = None
            if row.quantity_bucket is not None:
                availability = Availability(bool(row.in_stock), row.quantity_bucket)
            found[row.sku_id] = SkuOffer(
                sku_id=row.sku_id,
                base=row.base,
                price=current,
                source=PriceSource(row.current_source or "base"),
                lowest_30d=_lowest(row, current),
                flash_sale=flash_sale,
                availability=availability,
            )
        return found

    async def lowest_30d(self, sku_id: str, at: datetime) -> int | None:
        """The lowest 30-day price of one SKU, or None for an unknown SKU."""
        found = await self.offers([sku_id], at)
        return found[sku_id].lowest_30d if sku_id in found else None

    # --- pricing state -----------------------------------------------------------------------------------

    async def ensure_pricing_rows(self, sku_ids: Sequence[str]) -> None:
        """Give SKUs that have none a pricing row (never priced yet: no current price)."""
        if not sku_ids:
            return
        await self._session.execute(
            insert(sku_pricing)
            .values(
                [
                    {
                        "sku_id": sku_id,
                        "tiers": [],
                        "dynamic_rules": [],
                        "current_source": "base",
                        "updated_at": func.now(),
                    }
                    for sku_id in sku_ids
                ]
            )
            .on_conflict_do_nothing()
        )

    async def lock_pricing(
        self, sku_ids: Sequence[str], today: date, *, lock: bool = True
    ) -> dict[str, PriceState]:
        """The SKUs' pricing state; with ``lock``, their rows locked until the transaction ends."""
        wanted = sorted(set(sku_ids))
        if not wanted:
            return {}
        if lock:
            # Locked first and on their own (in id order: no deadlock between two writers), since
            # FOR UPDATE cannot reach through the outer join below.
            await self._session.execute(
                select(sku_pricing.c.sku_id)
                .where(sku_pricing.c.sku_id.in_(wanted))
                .order_by(sku_pricing.c.sku_id)
                .with_for_update()
            )
        query = text(
            """
            SELECT sp.*, sp.sku_id::text AS sku_key, sp.dynamic_rule_id::text AS dynamic_rule_key,
                   sp.current_rule_id::text AS current_rule_key, s.price AS base, s.currency,
                   p.id::text AS product_id, p.shop_id::text AS shop_id, p.status,
                   sig.available,
                   (SELECT coalesce(sum(d.units), 0) FROM sku_daily_sales d
                    WHERE d.sku_id = s.id AND d.day > :since AND d.day <= :today) AS sold
            FROM sku_pricing sp
            JOIN skus s ON s.id = sp.sku_id
            JOIN products p ON p.id = s.product_id
            LEFT JOIN sku_stock_signals sig ON sig.sku_id = sp.sku_id
            WHERE sp.sku_id = ANY(:ids)
            """
        ).bindparams(_IDS)
        result = await self._session.execute(
            query, {"ids": wanted, "today": today, "since": today - timedelta(days=SALES_WINDOW_DAYS)}
        )
        return {
            row.sku_key: PriceState(
                sku_id=row.sku_key,
                product_id=row.product_id,
                shop_id=row.shop_id,
                product_status=row.status,
                currency=row.currency,
                base=row.base,
                bounds=Bounds(row.floor_price, row.ceiling_price),
                tiers=tiers_from_json(row.tiers),
                rules=rules_from_json(row.dynamic_rules),
                dynamic_price=row.dynamic_price,
                dynamic_rule_id=row.dynamic_rule_key,
                current_price=row.current_price,
                current_source=PriceSource(row.current_source),
                current_rule_id=row.current_rule_key,
                available=row.available,
                sold_in_window=int(row.sold),
            )
            for row in result
        }

    async def windows_at(
        self, sku_ids: Sequence[str], at: datetime
    ) -> tuple[dict[str, ScheduledPrice], dict[str, CampaignPrice]]:
        """The live schedule and campaign of each SKU whose window contains ``at``."""
        schedules = await self._session.execute(
            select(price_schedules).where(
                price_schedules.c.sku_id.in_(list(sku_ids)),
                price_schedules.c.cancelled_at.is_(None),
                price_schedules.c.starts_at <= at,
                price_schedules.c.ends_at > at,
            )
        )
        running = await self._session.execute(
            select(campaign_skus).where(
                campaign_skus.c.sku_id.in_(list(sku_ids)),
                campaign_skus.c.starts_at <= at,
                campaign_skus.c.ends_at > at,
            )
        )
        return (
            {r.sku_id: ScheduledPrice(r.id, r.price, Window(r.starts_at, r.ends_at)) for r in schedules},
            {
                r.sku_id: CampaignPrice(
                    r.campaign_id, r.campaign_price, Window(r.starts_at, r.ends_at), r.per_buyer_limit
                )
                for r in running
            },
        )

    async def refresh_product_prices(self, product_ids: Sequence[str]) -> None:
        """Recompute the products' cheapest and dearest current SKU prices (a listing's order by price).

        Called under the SKUs' pricing locks. The products' rows are locked first, in id order,
        and only then recomputed by a statement of its own: one that waited for the lock sees the
        re-pricing of the product's other SKUs that the holder committed meanwhile.
        """
        wanted = sorted(set(product_ids))
        if not wanted:
            return
        await self._session.execute(
            select(product_current_prices.c.product_id)
            .where(product_current_prices.c.product_id.in_(wanted))
            .order_by(product_current_prices.c.product_id)
            .with_for_update()
        )
        await self._session.execute(_REFRESH_PRODUCT_PRICES, {"ids": wanted})

    async def save_state(self, sku_id: str, **values: Any) -> None:
        """Write columns of a SKU's pricing row."""
        await self._session.execute(
            update(sku_pricing).where(sku_pricing.c.sku_id == sku_id).values(**values, updated_at=func.now())
        )

    async def save_states(self, states: Sequence[PriceState]) -> None:
        """Write the evaluated prices of SKUs' pricing rows (one statement, however many)."""
        if not states:
            return
        await self._session.execute(
            _SAVE_STATE,
            [
                {
                    "key": state.sku_id,
                    "dynamic_price": state.dynamic_price,
                    "dynamic_rule_id": state.dynamic_rule_id,
                    "current_price": state.current_price,
                    "current_source": state.current_source.value,
                    "current_rule_id": state.current_rule_id,
                }
                for state in states
            ],
        )

    async def add_history(self, rows: Sequence[HistoryRow]) -> None:
        """Record price changes (one statement, however many)."""
        if not rows:
            return
        await self._session.execute(
            price_history.insert(),
            [
                {
                    "id": row.id,
                    "sku_id": row.sku_id,
                    "product_id": row.product_id,
                    "shop_id": row.shop_id,
                    "old_price": row.old_price,
                    "new_price": row.new_price,
                    "currency": row.currency,
                    "source": row.source.value,
                    "rule_id": row.rule_id,
                    "actor": row.actor,
                    "changed_at": row.changed_at,
                }
                for row in rows
            ],
        )

    async def history(
        self, sku_id: str, *, before: tuple[datetime, str] | None, limit: int
    ) -> list[HistoryRow]:
        """A SKU's price changes, newest first, older than the ``(changed_at, id)`` key ``before``."""
        query = (
            select(price_history)
            .where(price_history.c.sku_id == sku_id)
            .order_by(price_history.c.changed_at.desc(), price_history.c.id.desc())
            .limit(limit)
        )
        if before is not None:
            changed_at, change_id = before
            query = query.where(
                (price_history.c.changed_at < changed_at)
                | ((price_history.c.changed_at == changed_at) & (price_history.c.id < change_id))
            )
        return [
            HistoryRow(
                id=r.id,
                sku_id=r.sku_id,
                product_id=r.product_id,
                shop_id=r.shop_id,
                old_price=r.old_price,
                new_price=r.new_price,
                currency=r.currency,
                source=ChangeSource(r.source),
                rule_id=r.rule_id,
                actor=r.actor,
                changed_at=r.changed_at,
            )
            for r in await self._session.execute(query)
        ]

    # --- schedules ---------------------------------------------------------------------------------------

    async def add_schedule(self, row: ScheduleRow, *, created_by: str) -> None:
        """Insert a schedule; raise ``AlreadyExists`` (SCHEDULE_OVERLAP) when its window overlaps another."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    price_schedules.insert().values(
                        id=row.id,
                        sku_id=row.sku_id,
                        price=row.price,
                        currency=row.currency,
                        starts_at=row.window.start,
                        ends_at=row.window.end,
                        created_by=created_by,
                    )
                )
        except IntegrityError as exc:
            if violated_constraint(exc) == SCHEDULE_OVERLAP_CONSTRAINT:
                raise schedule_overlap() from exc
            raise

    async def overlapping_schedule(self, sku_id: str, window: Window) -> str | None:
        """The id of a live schedule of the SKU whose window overlaps ``window``, if any."""
        return (
            await self._session.execute(
                select(price_schedules.c.id)
                .where(
                    price_schedules.c.sku_id == sku_id,
                    price_schedules.c.cancelled_at.is_(None),
                    price_schedules.c.starts_at < window.end,
                    price_schedules.c.ends_at > window.start,
                )
                .limit(1)
            )
        ).scalar_one_or_none()

    async def get_schedule(self, schedule_id: str, *, for_update: bool = False) -> ScheduleRow | None:
        """A schedule by id."""
        query = select(price_schedules).where(price_schedules.c.id == schedule_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).first()
        return _schedule(row) if row else None

    async def list_schedules(
        self, sku_id: str, *, after: tuple[datetime, str] | None, limit: int
    ) -> list[ScheduleRow]:
        """A SKU's schedules by start time, after the ``(starts_at, id)`` key ``after``."""
        query = (
            select(price_schedules)
            .where(price_schedules.c.sku_id == sku_id)
            .order_by(price_schedules.c.starts_at, price_schedules.c.id)
            .limit(limit)
        )
        if after is not None:
            starts_at, schedule_id = after
            query = query.where(
                (price_schedules.c.starts_at > starts_at)
                | ((price_schedules.c.starts_at == starts_at) & (price_schedules.c.id > schedule_id))
            )
        return [_schedule(row) for row in await self._session.execute(query)]

    async def cancel_schedule(self, schedule_id: str, at: datetime) -> None:
        """Mark a schedule cancelled and drop its boundaries not applied yet.

        A boundary the scheduler has claimed (locked) is left to it: the scheduler holds the boundary
        and waits for the SKU's pricing row, which the canceller holds, so waiting for the boundary here
        would deadlock. Applying it after the cancellation re-prices from the live schedules only,
        which is harmless.
        """
        await self._session.execute(
            update(price_schedules).where(price_schedules.c.id == schedule_id).values(cancelled_at=at)
        )
        unclaimed = (
            select(price_boundaries.c.id)
            .where(price_boundaries.c.ref_id == schedule_id, price_boundaries.c.applied_at.is_(None))
            .with_for_update(skip_locked=True)
        )
        await self._session.execute(delete(price_boundaries).where(price_boundaries.c.id.in_(unclaimed)))

    # --- campaigns ---------------------------------------------------------------------------------------

    async def add_campaign(self, campaign_id: str, name: str, window: Window, *, created_by: str) -> None:
        """Insert a campaign."""
        await self._session.execute(
            campaigns.insert().values(
                id=campaign_id, name=name, starts_at=window.start, ends_at=window.end, created_by=created_by
            )
        )

    async def get_campaign(self, campaign_id: str, *, for_share: bool = False) -> CampaignRow | None:
        """A campaign with its SKUs."""
        query = select(campaigns).where(campaigns.c.id == campaign_id)
        if for_share:
            query = query.with_for_update(read=True)
        row = (await self._session.execute(query)).first()
        if row is None:
            return None
        return (await self._with_skus([row]))[0]

    async def list_campaigns(
        self, *, ending_after: datetime | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[CampaignRow]:
        """Campaigns by start time, optionally only those still running or to come."""
        query = select(campaigns).order_by(campaigns.c.starts_at, campaigns.c.id).limit(limit)
        if ending_after is not None:
            query = query.where(campaigns.c.ends_at > ending_after)
        if after is not None:
            starts_at, campaign_id = after
            query = query.where(
                (campaigns.c.starts_at > starts_at)
                | ((campaigns.c.starts_at == starts_at) & (campaigns.c.id > campaign_id))
            )
        return await self._with_skus(list(await self._session.execute(query)))

    async def _with_skus(self, rows: Sequence[Row[Any]]) -> list[CampaignRow]:
        ids = [row.id for row in rows]
        members: dict[str, list[CampaignSkuRow]] = {campaign_id: [] for campaign_id in ids}
        if ids:
            result = await self._session.execute(
                select(campaign_skus)
                .where(campaign_skus.c.campaign_id.in_(ids))
                .order_by(campaign_skus.c.created_at, campaign_skus.c.sku_id)
            )
            for r in result:
                members[r.campaign_id].append(
                    CampaignSkuRow(
                        sku_id=r.sku_id,
                        product_id=r.product_id,
                        shop_id=r.shop_id,
                        campaign_price=r.campaign_price,
                        currency=r.currency,
                        quota=r.quota,
                        per_buyer_limit=r.per_buyer_limit,
                    )
                )
        return [
            CampaignRow(row.id, row.name, Window(row.starts_at, row.ends_at), tuple(members[row.id]))
            for row in rows
        ]

    async def overlapping_campaign(self, sku_id: str, window: Window) -> str | None:
        """The id of a campaign the SKU is in whose window overlaps ``window``, if any."""
        return (
            await self._session.execute(
                select(campaign_skus.c.campaign_id)
                .where(
                    campaign_skus.c.sku_id == sku_id,
                    campaign_skus.c.starts_at < window.end,
                    campaign_skus.c.ends_at > window.start,
                )
                .limit(1)
            )
        ).scalar_one_or_none()

    async def add_campaign_skus(
        self, campaign: CampaignRow, members: Sequence[CampaignSkuRow], *, added_by: str
    ) -> None:
        """Insert campaign SKUs; a concurrent overlapping insert fails with CAMPAIGN_OVERLAP."""
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    campaign_skus.insert(),
                    [
                        {
                            "campaign_id": campaign.id,
                            "sku_id": m.sku_id,
                            "product_id": m.product_id,
                            "shop_id": m.shop_id,
                            "campaign_price": m.campaign_price,
                            "currency": m.currency,
                            "quota": m.quota,
                            "per_buyer_limit": m.per_buyer_limit,
                            "starts_at": campaign.window.start,
                            "ends_at": campaign.window.end,
                            "added_by": added_by,
                        }
                        for m in members
                    ],
                )
        except IntegrityError as exc:
            if violated_constraint(exc) in (CAMPAIGN_OVERLAP_CONSTRAINT, CAMPAIGN_SKU_KEY):
                raise campaign_overlap("a SKU is already in a campaign at that time") from exc
            raise

    # --- boundaries (the scheduler's work) ---------------------------------------------------------------

    async def add_boundaries(self, rows: Iterable[tuple[str, str, datetime, ChangeSource, str]]) -> None:
        """Insert ``(id, sku_id, due_at, kind, ref_id)`` boundaries."""
        values = [
            {"id": i, "sku_id": s, "due_at": due, "kind": kind.value, "ref_id": ref}
            for i, s, due, kind, ref in rows
        ]
        if values:
            await self._session.execute(price_boundaries.insert(), values)

    async def claim_due_boundaries(self, now: datetime, limit: int) -> list[Boundary]:
        """Due boundaries not applied yet, claimed until commit; other workers skip them."""
        result = await self._session.execute(
            select(
                price_boundaries.c.id,
                price_boundaries.c.sku_id,
                price_boundaries.c.kind,
                price_boundaries.c.ref_id,
            )
            .where(price_boundaries.c.applied_at.is_(None), price_boundaries.c.due_at <= now)
            .order_by(price_boundaries.c.due_at, price_boundaries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [Boundary(r.id, r.sku_id, ChangeSource(r.kind), r.ref_id) for r in result]

    async def next_boundary_due(self) -> datetime | None:
        """When the earliest boundary not applied yet is due (a probe of the partial index on ``due_at``)."""
        query = select(func.min(price_boundaries.c.due_at)).where(price_boundaries.c.applied_at.is_(None))
        due: datetime | None = (await self._session.execute(query)).scalar_one()
        return due

    async def mark_applied(self, boundary_ids: Sequence[str], now: datetime) -> None:
        """Mark boundaries applied."""
        await self._session.execute(
            update(price_boundaries)
            .where(price_boundaries.c.id.in_(list(boundary_ids)))
            .values(applied_at=now)
        )

    # --- stock signals -----------------------------------------------------------------------------------

    async def record_availability(self, sku_id: str, availability: Availability, version: int) -> bool:
        """Keep the latest availability of a SKU; False when ``version`` is not newer than the stored one."""
        values = {
            "available": availability.surely_available,
            "in_stock": availability.in_stock,
            "quantity_bucket": availability.quantity_bucket,
            "availability_version": version,
            "updated_at": func.now(),
        }
        upsert = insert(sku_stock_signals).values(sku_id=sku_id, **values)
        result = await self._session.execute(
            upsert.on_conflict_do_update(
                index_elements=[sku_stock_signals.c.sku_id],
                set_=values,
                where=sku_stock_signals.c.availability_version < version,
            ).returning(sku_stock_signals.c.sku_id)
        )
        return result.first() is not None

    async def record_sales(self, sku_id: str, day: date, units: int) -> None:
        """Add units sold on a day."""
        upsert = insert(sku_daily_sales).values(sku_id=sku_id, day=day, units=units)
        await self._session.execute(
            upsert.on_conflict_do_update(
                index_elements=[sku_daily_sales.c.sku_id, sku_daily_sales.c.day],
                set_={"units": sku_daily_sales.c.units + upsert.excluded.units},
            )
        )

    async def known_skus(self, sku_ids: Sequence[str]) -> set[str]:
        """Which of these SKUs have a pricing row."""
        result = await self._session.execute(
            select(sku_pricing.c.sku_id).where(sku_pricing.c.sku_id.in_(list(sku_ids)))
        )
        return {row.sku_id for row in result}


def schedule_overlap() -> AlreadyExists:
    """The error of a schedule overlapping another of its SKU."""
    return AlreadyExists(
        ErrorCode.SCHEDULE_OVERLAP,
        "the SKU already has a price scheduled during that window",
        [FieldViolation("start_time", "overlaps another schedule of the SKU", ErrorCode.SCHEDULE_OVERLAP)],
    )


def campaign_overlap(detail: str, field: str = "skus") -> AlreadyExists:
    """The error of a SKU joining a campaign while in another one at that time."""
    return AlreadyExists(
        ErrorCode.CAMPAIGN_OVERLAP, detail, [FieldViolation(field, detail, ErrorCode.CAMPAIGN_OVERLAP)]
    )


def _lowest(row: Row[Any], current: int) -> int:
    within = () if row.within_window is None else (row.within_window,)
    return lowest_price(row.at_window_start, within, current)


def _schedule(row: Row[Any]) -> ScheduleRow:
    return ScheduleRow(
        id=row.id,
        sku_id=row.sku_id,
        price=row.price,
        currency=row.currency,
        window=Window(row.starts_at, row.ends_at),
        cancelled_at=row.cancelled_at,
    )
