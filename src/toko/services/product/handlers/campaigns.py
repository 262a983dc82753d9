"""Flash-sale campaigns: created by admins, joined by SKUs (by their seller or an admin), public to read.

Adding SKUs stores the boundaries at which the price scheduler re-prices them
(``boundaries``), wakes the scheduler, and announces them to inventory, which sets
each quota apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import Page, PageSpec, decode_token, encode_token
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.product.v1 import events_pb2
from toko.product.v1 import pricing_pb2 as ppb
from toko.services.product.domain import pricing as domain
from toko.services.product.domain.catalog import CURRENCY
from toko.services.product.domain.pricing import ChangeSource, Window
from toko.services.product.error_codes import ErrorCode
from toko.services.product.handlers.common import (
    Catalog,
    authorize_shop,
    forget_products,
    run_idempotent,
    time_key,
)
from toko.services.product.mapping.common import money, timestamp
from toko.services.product.mapping.pricing import campaign_to_proto
from toko.services.product.repository.pricing import (
    CampaignRow,
    CampaignSkuRow,
    PricingRepository,
    campaign_overlap,
)
from toko.services.product.repricing import Cause, reprice

CAMPAIGN_PAGES = PageSpec(default=20, maximum=100)
MAX_CAMPAIGN_SKUS = 100


@dataclass(frozen=True)
class NewCampaignSku:
    """A SKU to add to a campaign."""

    sku_id: str
    campaign_price: int
    currency: str
    quota: int
    per_buyer_limit: int


async def create_campaign(
    *, catalog: Catalog, name: str, window: Window, principal: Principal, idempotency_key: str = ""
) -> ppb.Campaign:
    """Create a flash-sale campaign (admins only); SKUs join it with ``add_campaign_skus``."""
    if not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins create campaigns")
    now = catalog.clock()
    name, name_problems = domain.checked_campaign_name(name)
    request = ppb.CreateCampaignRequest(
        name=name, start_time=timestamp(window.start), end_time=timestamp(window.end)
    )

    async def create(uow: UnitOfWork) -> ppb.Campaign:
        problems = list(name_problems)
        problems.extend(
            domain.check_window(
                window,
                now=now,
                longest=domain.MAX_CAMPAIGN_LENGTH,
                start_path="start_time",
                end_path="end_time",
            )
        )
        if problems:
            raise invalid(problems)
        campaign = CampaignRow(new_id(), name, window, ())
        await PricingRepository(uow.session).add_campaign(
            campaign.id, name, window, created_by=principal.subject
        )
        return campaign_to_proto(campaign, now)

    return await run_idempotent(
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
    after = time_key(decode_token(page_token, filters, 2))
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
        raise invalid(bad_ids)
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

    repriced: list[str] = []

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
            authorize_shop(principal, state.shop_id)
            if state.product_status == "archived":
                raise FailedPrecondition(
                    ErrorCode.SKU_NOT_FOR_SALE,
                    f"SKU {sku.sku_id} is not for sale",
                    [FieldViolation(f"{path}.sku_id", "is archived", ErrorCode.SKU_NOT_FOR_SALE)],
                )
            problems.extend(
                domain.check_campaign_sku(
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
            raise invalid(problems)
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
        repriced.extend(m.product_id for m in members)
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

    campaign = await run_idempotent(
        catalog,
        operation="product.AddCampaignSkus",
        principal=principal,
        idempotency_key=idempotency_key,
        request=request,
        reply_type=ppb.Campaign,
        work=add,
    )
    # The new boundaries are committed: an idle scheduler looks again for the next one due.
    catalog.boundaries_added.set()
    await forget_products(catalog, repriced)
    return campaign
