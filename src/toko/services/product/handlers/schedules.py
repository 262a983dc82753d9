"""Scheduled prices: a seller's price for a window of time, which may not overlap another of the SKU.

Creating one stores the boundaries at which the price scheduler re-prices the SKU
(``boundaries``), and wakes the scheduler; a window that starts now takes effect
with the creating commit.
"""

from __future__ import annotations

from dataclasses import replace

from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import NotFound
from toko.platform.ids import new_id, require_id
from toko.platform.pagination import Page, PageSpec, decode_token, encode_token
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.product.v1 import pricing_pb2 as ppb
from toko.services.product.domain import pricing as domain
from toko.services.product.domain.catalog import CURRENCY
from toko.services.product.domain.pricing import ChangeSource, Window
from toko.services.product.error_codes import ErrorCode
from toko.services.product.handlers.common import (
    SOURCE,
    Catalog,
    forget_products,
    run_idempotent,
    sku_to_manage,
    time_key,
)
from toko.services.product.mapping.common import money, timestamp
from toko.services.product.mapping.pricing import schedule_to_proto
from toko.services.product.repository.pricing import PricingRepository, ScheduleRow, schedule_overlap
from toko.services.product.repricing import Cause, reprice

SCHEDULE_PAGES = PageSpec(default=50, maximum=200)


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

    repriced: list[str] = []

    async def create(uow: UnitOfWork) -> ppb.PriceSchedule:
        state = await sku_to_manage(uow, sku_id, principal, now)
        repriced.append(state.product_id)
        problems: list[Violation] = []
        domain.check_money(price, "price.amount", problems)
        if (currency or CURRENCY) != CURRENCY:
            problems.append(
                Violation("price.currency", f"only {CURRENCY} is supported", ErrorCode.UNSUPPORTED_CURRENCY)
            )
        problems.extend(domain.check_within_bounds(price, state.bounds, "price.amount"))
        problems.extend(
            domain.check_window(
                window,
                now=now,
                longest=domain.MAX_SCHEDULE_LENGTH,
                start_path="start_time",
                end_path="end_time",
            )
        )
        if problems:
            raise invalid(problems)
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

    schedule = await run_idempotent(
        catalog,
        operation="product.CreatePriceSchedule",
        principal=principal,
        idempotency_key=idempotency_key,
        request=request,
        reply_type=ppb.PriceSchedule,
        work=create,
    )
    # The new boundaries are committed: an idle scheduler looks again for the next one due.
    catalog.boundaries_added.set()
    await forget_products(catalog, repriced)
    return schedule


async def list_price_schedules(
    *, catalog: Catalog, sku_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[ppb.PriceSchedule]:
    """A SKU's schedules by start time, cancelled ones included."""
    require_id(sku_id, "sku_id")
    size = SCHEDULE_PAGES.size(page_size)
    filters = [sku_id]
    after = time_key(decode_token(page_token, filters, 2))
    async with catalog.database.unit_of_work(SOURCE) as uow:
        await sku_to_manage(uow, sku_id, principal, catalog.clock(), lock=False)
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
        state = await sku_to_manage(uow, schedule.sku_id, principal, now)
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
    await forget_products(catalog, [state.product_id])
    return schedule_to_proto(replace(schedule, cancelled_at=now))
