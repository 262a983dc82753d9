"""Pricing use cases: quotes, history, bounds, tiers, dynamic rules, schedules and flash-sale campaigns.

One function per command or query, one transaction each. Every write that can
move a SKU's price ends in ``repricing.reprice`` inside the same unit of work,
so the change, its history row and its ``PriceChanged`` event commit together.

Who may do what: quotes, price history and campaigns are public; a SKU's
pricing is managed by its shop's sellers and by admins; campaigns are created by
admins, and SKUs join them by their seller or an admin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TypeVar

from google.protobuf.message import Message

from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import PageSpec, bad_page_token, decode_token, encode_token
from toko.product.v1 import events_pb2
from toko.product.v1 import pricing_pb2 as ppb
from toko.services.product import pricing
from toko.services.product.domain import CURRENCY, Violation
from toko.services.product.error_codes import ErrorCode
from toko.services.product.handlers import SOURCE, Catalog, Page
from toko.services.product.pricing import (
    Bounds,
    ChangeSource,
    DynamicRule,
    RuleKind,
    Tier,
    Window,
)
from toko.services.product.pricing_mapping import (
    PRICE_SOURCE_TO_PROTO,
    campaign_to_proto,
    change_to_proto,
    countdown,
    money,
    pricing_to_proto,
    schedule_to_proto,
    timestamp,
)
from toko.services.product.pricing_repository import (
    CampaignRow,
    CampaignSkuRow,
    PriceState,
    PricingRepository,
    ScheduleRow,
    campaign_overlap,
    schedule_overlap,
)
from toko.services.product.repricing import SYSTEM_ACTOR, Cause, reprice

HISTORY_PAGES = PageSpec(default=50, maximum=200)
SCHEDULE_PAGES = PageSpec(default=50, maximum=200)
CAMPAIGN_PAGES = PageSpec(default=20, maximum=100)
MAX_CAMPAIGN_SKUS = 100
FOR_SALE = "active"

MessageT = TypeVar("MessageT", bound=Message)


@dataclass(frozen=True)
class QuoteLine:
    """A SKU and how many units of it."""

    sku_id: str
    quantity: int


@dataclass(frozen=True)
class NewCampaignSku:
    """A SKU to add to a campaign."""

    sku_id: str
    campaign_price: int
    currency: str
    quota: int
    per_buyer_limit: int


# --- quotes and history (public) ----------------------------------------------------------------------------


async def quote_prices(
    *, catalog: Catalog, lines: Sequence[QuoteLine], at: datetime | None = None
) -> ppb.QuotePricesResponse:
    """Price a cart at ``at`` (now by default): one round trip to PostgreSQL for every line."""
    now = catalog.clock()
    instant = at or now
    _check_lines(lines)
    async with catalog.database.single_reads() as session:
        found = await PricingRepository(session).quote_facts([line.sku_id for line in lines], instant)
    unknown = [line.sku_id for line in lines if line.sku_id not in found]
    if unknown:
        missing = [
            FieldViolation(f"lines[{i}].sku_id", "no such SKU", ErrorCode.SKU_NOT_FOUND)
            for i, line in enumerate(lines)
            if line.sku_id not in found
        ]
        raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {', '.join(unknown)}", missing)
    off_sale = [
        FieldViolation(f"lines[{i}].sku_id", "is not for sale", ErrorCode.SKU_NOT_FOR_SALE)
        for i, line in enumerate(lines)
        if found[line.sku_id].status != FOR_SALE
    ]
    if off_sale:
        raise FailedPrecondition(ErrorCode.SKU_NOT_FOR_SALE, "a SKU of the quote is not for sale", off_sale)
    boundaries: list[datetime] = []
    quoted: list[ppb.QuotedLine] = []
    total = 0
    for line in lines:
        facts = found[line.sku_id]
        resolved = pricing.resolve(facts.facts, at=instant, quantity=line.quantity)
        boundaries.extend(pricing.boundaries_of(facts.facts))
        if facts.next_start is not None:
            boundaries.append(facts.next_start)
        line_total = resolved.total(line.quantity)
        total += line_total
        message = ppb.QuotedLine(
            sku_id=line.sku_id,
            quantity=line.quantity,
            unit_price=money(resolved.unit_price, facts.currency),
            line_total=money(line_total, facts.currency),
            source=PRICE_SOURCE_TO_PROTO[resolved.source],
            rule_id=resolved.rule_id or "",
            base_price=money(facts.facts.base, facts.currency),
            lowest_price_30d=money(facts.lowest_30d, facts.currency),
            product_id=facts.product_id,
            shop_id=facts.shop_id,
        )
        if resolved.campaign is not None:
            message.campaign_countdown.CopyFrom(countdown(resolved.campaign.window, instant))
            message.per_buyer_limit = resolved.campaign.per_buyer_limit
        quoted.append(message)
    expiry = pricing.quote_expiry(instant, catalog.quote_ttl, boundaries)
    return ppb.QuotePricesResponse(
        lines=quoted,
        total=money(total, CURRENCY),
        quote_time=timestamp(instant),
        expire_time=timestamp(expiry),
    )


def _check_lines(lines: Sequence[QuoteLine]) -> None:
    if not lines:
        raise InvalidArgument.field("lines", "name at least one line", ErrorCode.INVALID_QUANTITY)
    if len(lines) > pricing.MAX_QUOTE_LINES:
        raise InvalidArgument.field(
            "lines", f"at most {pricing.MAX_QUOTE_LINES} lines", ErrorCode.TOO_MANY_LINES
        )
    problems: list[Violation] = []
    seen: set[str] = set()
    for i, line in enumerate(lines):
        if not is_id(line.sku_id):
            problems.append(Violation(f"lines[{i}].sku_id", "must be a UUID", ErrorCode.INVALID_ID))
        elif line.sku_id in seen:
            # One line per SKU, or two lines could each stay within a campaign's per-buyer limit.
            problems.append(Violation(f"lines[{i}].sku_id", "has a line already", ErrorCode.DUPLICATE_LINE))
        seen.add(line.sku_id)
        problems.extend(pricing.check_quantity(line.quantity, f"lines[{i}].quantity"))
    if problems:
        raise _invalid(problems)


async def get_price_history(
    *, catalog: Catalog, sku_id: str, page_size: int = 0, page_token: str = ""
) -> tuple[Page[ppb.PriceChange], int]:
    """A SKU's price changes, newest first, and its lowest 30-day price."""
    require_id(sku_id, "sku_id")
    size = HISTORY_PAGES.size(page_size)
    filters = [sku_id]
    key = decode_token(page_token, filters, 2)
    before = _time_key(key)
    async with catalog.database.sessions() as session:
        repository = PricingRepository(session)
        lowest = await repository.lowest_30d(sku_id, catalog.clock())
        if lowest is None:
            raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {sku_id}")
        rows = await repository.history(sku_id, before=before, limit=size + 1)
    token = ""
    if len(rows) > size:
        last = rows[size - 1]
        token = encode_token([last.changed_at.isoformat(), last.id], filters)
    return Page([change_to_proto(row) for row in rows[:size]], token), lowest


# --- a SKU's pricing (its seller) ---------------------------------------------------------------------------


async def get_sku_pricing(*, catalog: Catalog, sku_id: str, principal: Principal) -> ppb.SkuPricing:
    """Everything that prices a SKU."""
    require_id(sku_id, "sku_id")
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await _sku_to_manage(uow, sku_id, principal, catalog.clock(), lock=False)
    return pricing_to_proto(state)


async def set_price_bounds(
    *, catalog: Catalog, sku_id: str, floor: int | None, ceiling: int | None, principal: Principal
) -> ppb.SkuPricing:
    """Set (or with None, remove) the floor and ceiling of a SKU's price: floor ≤ base ≤ ceiling."""
    require_id(sku_id, "sku_id")
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await _sku_to_manage(uow, sku_id, principal, now)
        bounds = Bounds(floor, ceiling)
        problems = pricing.check_bounds(bounds, state.base)
        if problems:
            raise _invalid(problems)
        if bounds.floor is None or bounds.ceiling is None:
            # Dynamic rules work between both bounds; without them they stop.
            await PricingRepository(uow.session).save_state(sku_id, dynamic_rules=[])
        await PricingRepository(uow.session).save_state(sku_id, floor_price=floor, ceiling_price=ceiling)
        states = await reprice(
            uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.DYNAMIC, principal.subject)
        )
        await uow.commit()
    return pricing_to_proto(states[sku_id])


async def set_quantity_tiers(
    *, catalog: Catalog, sku_id: str, tiers: Sequence[Tier], principal: Principal
) -> ppb.SkuPricing:
    """Replace a SKU's wholesale tiers (they price quantities of two and more, never one unit)."""
    require_id(sku_id, "sku_id")
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await _sku_to_manage(uow, sku_id, principal, now)
        problems = pricing.check_tiers(tiers, state.base)
        if problems:
            raise _invalid(problems)
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
        raise _invalid(unknown)
    built = [DynamicRule(new_id(), kind, percent, days) for kind, percent, days in rules if kind is not None]
    async with catalog.database.unit_of_work(SOURCE) as uow:
        state = await _sku_to_manage(uow, sku_id, principal, now)
        problems = pricing.check_rules(built, state.bounds)
        if problems:
            raise _invalid(problems)
        stored = [{"id": r.id, "kind": r.kind.value, "percent": r.percent, "days": r.days} for r in built]
        await PricingRepository(uow.session).save_state(sku_id, dynamic_rules=stored)
        states = await reprice(
            uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.DYNAMIC, principal.subject)
        )
        await uow.commit()
    return pricing_to_proto(states[sku_id])


# --- scheduled prices ---------------------------------------------------------------------------------------


async def create_price_schedule(
    *,
    catalog: Catalog,
    sku_id: str,
    price: int,
    currency: str,
    window: Window,
    principal: Principal,
    idempotency_key: str = "",
) -> ppb.PriceSchedule:
    """Schedule a price for a window; it may not overlap another live schedule of the SKU."""
    require_id(sku_id, "sku_id")
    now = catalog.clock()
    request = ppb.CreatePriceScheduleRequest(
        sku_id=sku_id,
        price=money(price, currency),
        start_time=timestamp(window.start),
        end_time=timestamp(window.end),
    )

    async def create(uow: UnitOfWork) -> ppb.PriceSchedule:
        state = await _sku_to_manage(uow, sku_id, principal, now)
        problems: list[Violation] = []
        pricing.check_money(price, "price.amount", problems)
        if (currency or CURRENCY) != CURRENCY:
            problems.append(
                Violation("price.currency", f"only {CURRENCY} is supported", ErrorCode.UNSUPPORTED_CURRENCY)
            )
        problems.extend(pricing.check_within_bounds(price, state.bounds, "price.amount"))
        problems.extend(
            pricing.check_window(
                window,
                now=now,
                longest=pricing.MAX_SCHEDULE_LENGTH,
                start_path="start_time",
                end_path="end_time",
            )
        )
        if problems:
            raise _invalid(problems)
        repository = PricingRepository(uow.session)
        if await repository.overlapping_schedule(sku_id, window) is not None:
            raise schedule_overlap()
        row = ScheduleRow(new_id(), sku_id, price, CURRENCY, window, None)
        await repository.add_schedule(row, created_by=principal.subject)
        await repository.add_boundaries(
            [
                (new_id(), sku_id, window.start, ChangeSource.SCHEDULE, row.id),
                (new_id(), sku_id, window.end, ChangeSource.SCHEDULE, row.id),
            ]
        )
        # A window that starts now takes effect with this commit, not at the scheduler's next round.
        await reprice(
            uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.SCHEDULE, principal.subject, row.id)
        )
        return schedule_to_proto(row)

    return await _idempotent(
        catalog,
        operation="product.CreatePriceSchedule",
        principal=principal,
        idempotency_key=idempotency_key,
        request=request,
        reply_type=ppb.PriceSchedule,
        work=create,
    )


async def list_price_schedules(
    *, catalog: Catalog, sku_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[ppb.PriceSchedule]:
    """A SKU's schedules by start time, cancelled ones included."""
    require_id(sku_id, "sku_id")
    size = SCHEDULE_PAGES.size(page_size)
    filters = [sku_id]
    after = _time_key(decode_token(page_token, filters, 2))
    async with catalog.database.unit_of_work(SOURCE) as uow:
        await _sku_to_manage(uow, sku_id, principal, catalog.clock(), lock=False)
        rows = await PricingRepository(uow.session).list_schedules(sku_id, after=after, limit=size + 1)
    token = ""
    if len(rows) > size:
        last = rows[size - 1]
        token = encode_token([last.window.start.isoformat(), last.id], filters)
    return Page([schedule_to_proto(row) for row in rows[:size]], token)


async def cancel_price_schedule(
    *, catalog: Catalog, schedule_id: str, principal: Principal
) -> ppb.PriceSchedule:
    """Cancel a schedule; a running one ends now. Cancelling twice changes nothing."""
    require_id(schedule_id, "id")
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = PricingRepository(uow.session)
        schedule = await repository.get_schedule(schedule_id)
        if schedule is None:
            raise NotFound(ErrorCode.SCHEDULE_NOT_FOUND, f"no price schedule {schedule_id}")
        await _sku_to_manage(uow, schedule.sku_id, principal, now)
        schedule = await repository.get_schedule(schedule_id, for_update=True)
        assert schedule is not None  # its SKU's pricing row is locked, and schedules are never deleted
        if schedule.cancelled_at is not None:
            return schedule_to_proto(schedule)
        await repository.cancel_schedule(schedule_id, now)
        await reprice(
            uow,
            sku_ids=[schedule.sku_id],
            now=now,
            cause=Cause(ChangeSource.SCHEDULE, principal.subject, schedule_id),
        )
        await uow.commit()
    return schedule_to_proto(replace(schedule, cancelled_at=now))


# --- flash-sale campaigns -----------------------------------------------------------------------------------


async def create_campaign(
    *, catalog: Catalog, name: str, window: Window, principal: Principal, idempotency_key: str = ""
) -> ppb.Campaign:
    """Create a flash-sale campaign (admins only); SKUs join it with ``add_campaign_skus``."""
    if not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins create campaigns")
    now = catalog.clock()
    name = name.strip()
    request = ppb.CreateCampaignRequest(
        name=name, start_time=timestamp(window.start), end_time=timestamp(window.end)
    )

    async def create(uow: UnitOfWork) -> ppb.Campaign:
        problems: list[Violation] = []
        if not pricing.CAMPAIGN_NAME_MIN_LENGTH <= len(name) <= pricing.CAMPAIGN_NAME_MAX_LENGTH:
            problems.append(
                Violation(
                    "name",
                    f"must be {pricing.CAMPAIGN_NAME_MIN_LENGTH} to "
                    f"{pricing.CAMPAIGN_NAME_MAX_LENGTH} characters",
                    ErrorCode.INVALID_CAMPAIGN_NAME,
                )
            )
        problems.extend(
            pricing.check_window(
                window,
                now=now,
                longest=pricing.MAX_CAMPAIGN_LENGTH,
                start_path="start_time",
                end_path="end_time",
            )
        )
        if problems:
            raise _invalid(problems)
        campaign = CampaignRow(new_id(), name, window, ())
        await PricingRepository(uow.session).add_campaign(
            campaign.id, name, window, created_by=principal.subject
        )
        return campaign_to_proto(campaign, now)

    return await _idempotent(
        catalog,
        operation="product.CreateCampaign",
        principal=principal,
        idempotency_key=idempotency_key,
        request=request,
        reply_type=ppb.Campaign,
        work=create,
    )


async def get_campaign(*, catalog: Catalog, campaign_id: str) -> ppb.Campaign:
    """A campaign with its SKUs and countdown."""
    require_id(campaign_id, "id")
    async with catalog.database.sessions() as session:
        campaign = await PricingRepository(session).get_campaign(campaign_id)
    if campaign is None:
        raise NotFound(ErrorCode.CAMPAIGN_NOT_FOUND, f"no campaign {campaign_id}")
    return campaign_to_proto(campaign, catalog.clock())


async def list_campaigns(
    *, catalog: Catalog, page_size: int = 0, page_token: str = "", include_ended: bool = False
) -> Page[ppb.Campaign]:
    """Campaigns by start time: running and upcoming ones, or all."""
    size = CAMPAIGN_PAGES.size(page_size)
    filters: list[str | int] = [int(include_ended)]
    after = _time_key(decode_token(page_token, filters, 2))
    now = catalog.clock()
    async with catalog.database.sessions() as session:
        rows = await PricingRepository(session).list_campaigns(
            ending_after=None if include_ended else now, after=after, limit=size + 1
        )
    token = ""
    if len(rows) > size:
        last = rows[size - 1]
        token = encode_token([last.window.start.isoformat(), last.id], filters)
    return Page([campaign_to_proto(row, now) for row in rows[:size]], token)


async def add_campaign_skus(
    *,
    catalog: Catalog,
    campaign_id: str,
    skus: Sequence[NewCampaignSku],
    principal: Principal,
    idempotency_key: str = "",
) -> ppb.Campaign:
    """Add SKUs to a campaign, all or none, and announce them to inventory (which sets the quota apart)."""
    require_id(campaign_id, "campaign_id")
    if not skus:
        raise InvalidArgument.field("skus", "name at least one SKU", ErrorCode.INVALID_ID)
    if len(skus) > MAX_CAMPAIGN_SKUS:
        raise InvalidArgument.field("skus", f"at most {MAX_CAMPAIGN_SKUS} SKUs", ErrorCode.TOO_MANY_IDS)
    bad_ids = [
        Violation(f"skus[{i}].sku_id", "must be a UUID", ErrorCode.INVALID_ID)
        for i, sku in enumerate(skus)
        if not is_id(sku.sku_id)
    ]
    if bad_ids:
        raise _invalid(bad_ids)
    if len({sku.sku_id for sku in skus}) != len(skus):
        raise InvalidArgument.field("skus", "name each SKU once", ErrorCode.DUPLICATE_LINE)
    now = catalog.clock()
    request = ppb.AddCampaignSkusRequest(
        campaign_id=campaign_id,
        skus=[
            ppb.CampaignSku(
                sku_id=s.sku_id,
                campaign_price=money(s.campaign_price, s.currency),
                quota=s.quota,
                per_buyer_limit=s.per_buyer_limit,
            )
            for s in skus
        ],
    )

    async def add(uow: UnitOfWork) -> ppb.Campaign:
        repository = PricingRepository(uow.session)
        campaign = await repository.get_campaign(campaign_id, for_share=True)
        if campaign is None:
            raise NotFound(ErrorCode.CAMPAIGN_NOT_FOUND, f"no campaign {campaign_id}")
        if campaign.window.end <= now:
            raise FailedPrecondition(ErrorCode.CAMPAIGN_ENDED, f"campaign {campaign_id} has ended")
        states = await repository.lock_pricing([s.sku_id for s in skus], now.date())
        problems: list[Violation] = []
        members: list[CampaignSkuRow] = []
        for i, sku in enumerate(skus):
            path = f"skus[{i}]"
            state = states.get(sku.sku_id)
            if state is None:
                raise NotFound(
                    ErrorCode.SKU_NOT_FOUND,
                    f"no SKU {sku.sku_id}",
                    [FieldViolation(f"{path}.sku_id", "no such SKU", ErrorCode.SKU_NOT_FOUND)],
                )
            _authorize(principal, state.shop_id)
            if state.product_status == "archived":
                raise FailedPrecondition(
                    ErrorCode.SKU_NOT_FOR_SALE,
                    f"SKU {sku.sku_id} is not for sale",
                    [FieldViolation(f"{path}.sku_id", "is archived", ErrorCode.SKU_NOT_FOR_SALE)],
                )
            problems.extend(
                pricing.check_campaign_sku(
                    price=sku.campaign_price,
                    base=state.base,
                    quota=sku.quota,
                    per_buyer_limit=sku.per_buyer_limit,
                    path=path,
                )
            )
            if (sku.currency or CURRENCY) != CURRENCY:
                problems.append(
                    Violation(
                        f"{path}.campaign_price.currency",
                        f"only {CURRENCY} is supported",
                        ErrorCode.UNSUPPORTED_CURRENCY,
                    )
                )
            members.append(
                CampaignSkuRow(
                    sku_id=sku.sku_id,
                    product_id=state.product_id,
                    shop_id=state.shop_id,
                    campaign_price=sku.campaign_price,
                    currency=CURRENCY,
                    quota=sku.quota,
                    per_buyer_limit=sku.per_buyer_limit,
                )
            )
        if problems:
            raise _invalid(problems)
        for i, sku in enumerate(skus):
            other = await repository.overlapping_campaign(sku.sku_id, campaign.window)
            if other is not None:
                detail = (
                    f"SKU {sku.sku_id} is already in this campaign"
                    if other == campaign_id
                    else f"SKU {sku.sku_id} is in campaign {other} at an overlapping time"
                )
                raise campaign_overlap(detail, f"skus[{i}].sku_id")
        await repository.add_campaign_skus(campaign, members, added_by=principal.subject)
        await repository.add_boundaries(
            [
                (new_id(), m.sku_id, instant, ChangeSource.CAMPAIGN, campaign_id)
                for m in members
                for instant in (campaign.window.start, campaign.window.end)
            ]
        )
        await reprice(
            uow,
            sku_ids=[m.sku_id for m in members],
            now=now,
            cause=Cause(ChangeSource.CAMPAIGN, principal.subject, campaign_id),
        )
        added = [
            ppb.CampaignSku(
                sku_id=m.sku_id,
                product_id=m.product_id,
                shop_id=m.shop_id,
                campaign_price=money(m.campaign_price),
                quota=m.quota,
                per_buyer_limit=m.per_buyer_limit,
            )
            for m in members
        ]
        uow.publish(
            events_pb2.FlashSaleCampaignScheduled(
                campaign_id=campaign_id,
                name=campaign.name,
                start_time=timestamp(campaign.window.start),
                end_time=timestamp(campaign.window.end),
                skus=added,
            ),
            subject=campaign_id,
        )
        updated = await repository.get_campaign(campaign_id)
        assert updated is not None
        return campaign_to_proto(updated, now)

    return await _idempotent(
        catalog,
        operation="product.AddCampaignSkus",
        principal=principal,
        idempotency_key=idempotency_key,
        request=request,
        reply_type=ppb.Campaign,
        work=add,
    )


# --- the scheduler and stock signals (system) ---------------------------------------------------------------


async def apply_due_boundaries(*, catalog: Catalog, batch_size: int = 100) -> int:
    """Apply one batch of due schedule and campaign boundaries; returns how many were applied.

    The boundaries are claimed with ``FOR UPDATE SKIP LOCKED`` and marked applied in
    the same transaction as the price changes they cause, so each is applied exactly
    once however many workers race for it.
    """
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = PricingRepository(uow.session)
        due = await repository.claim_due_boundaries(now, batch_size)
        if not due:
            return 0
        # The latest boundary per SKU names the cause of that SKU's change.
        causes = {b.sku_id: Cause(b.kind, SYSTEM_ACTOR, b.ref_id) for b in due}
        # All the SKUs locked at once, in id order like every other writer: one by one, in due order,
        # two workers with overlapping SKUs could each wait for the other.
        await repository.lock_pricing(list(causes), now.date())
        for sku_id, cause in causes.items():
            await reprice(uow, sku_ids=[sku_id], now=now, cause=cause)
        await repository.mark_applied([b.id for b in due], now)
        await uow.commit()
    return len(due)


async def record_availability(
    *, uow: UnitOfWork, sku_id: str, available: int, version: int, now: datetime
) -> None:
    """Keep a SKU's latest availability (older versions are ignored) and re-evaluate its dynamic rules."""
    repository = PricingRepository(uow.session)
    if not await repository.known_skus([sku_id]):
        return
    if await repository.record_availability(sku_id, available, version):
        await reprice(uow, sku_ids=[sku_id], now=now, cause=Cause(ChangeSource.DYNAMIC, SYSTEM_ACTOR))


async def record_sales(*, uow: UnitOfWork, sold: dict[str, int], day: date, now: datetime) -> None:
    """Add units sold to the SKUs' daily sales and re-evaluate their dynamic rules."""
    repository = PricingRepository(uow.session)
    known = await repository.known_skus(list(sold))
    for sku_id in sorted(known):
        await repository.record_sales(sku_id, day, sold[sku_id])
    if known:
        await reprice(uow, sku_ids=sorted(known), now=now, cause=Cause(ChangeSource.DYNAMIC, SYSTEM_ACTOR))


# --- helpers ------------------------------------------------------------------------------------------------


async def _sku_to_manage(
    uow: UnitOfWork, sku_id: str, principal: Principal, now: datetime, *, lock: bool = True
) -> PriceState:
    # Locked until commit: writers of one SKU's pricing queue up.
    states = await PricingRepository(uow.session).lock_pricing([sku_id], now.date(), lock=lock)
    state = states.get(sku_id)
    if state is None:
        raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {sku_id}")
    _authorize(principal, state.shop_id)
    return state


def _authorize(principal: Principal, shop_id: str) -> None:
    if not (
        principal.is_admin
        or ("seller" in principal.roles and bool(principal.shop_id) and principal.shop_id == shop_id)
    ):
        raise PermissionDenied(ErrorCode.NOT_SHOP_OWNER, f"you do not manage shop {shop_id}")


async def _idempotent(
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


def _time_key(key: list[str | int] | None) -> tuple[datetime, str] | None:
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


def _invalid(violations: Sequence[Violation]) -> InvalidArgument:
    reasons = {v.reason for v in violations}
    return InvalidArgument.of(
        (FieldViolation(v.field, v.description, v.reason) for v in violations),
        reason=reasons.pop() if len(reasons) == 1 else ErrorCode.VALIDATION_FAILED,
    )
