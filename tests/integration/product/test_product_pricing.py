"""Pricing through the product service's gRPC server on real PostgreSQL, NATS JetStream and Valkey."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import nats
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js.api import ConsumerConfig, DeliverPolicy
from product_testkit import (
    ADMIN,
    as_seller,
    failure,
    new_product_request,
    new_shop,
    product_settings,
    publish_inventory_event,
)
from sqlalchemy import func, select

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import events_pb2 as inventory_events
from toko.platform.cache import create_valkey
from toko.platform.db import Database
from toko.platform.schema import outbox
from toko.product.v1 import events_pb2, product_pb2_grpc
from toko.product.v1 import pricing_pb2 as ppb
from toko.product.v1 import product_pb2 as pb
from toko.services.product.bootstrap import product_cache
from toko.services.product.handlers import Catalog
from toko.services.product.handlers.boundaries import apply_due_boundaries
from toko.services.product.repository.tables import price_boundaries, price_history, sku_pricing
from toko.services.product.settings import ProductSettings

Stub = product_pb2_grpc.ProductServiceStub
INVALID = grpc.StatusCode.INVALID_ARGUMENT


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints) -> ProductSettings:
    """A fresh database, and a scheduler that looks often so windows open promptly in tests."""
    return product_settings(
        infrastructure, f"pricing_{uuid.uuid4().hex[:8]}", price_scheduler_interval_seconds=0.2
    )


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


def idr(amount: int) -> dict[str, object]:
    return {"amount": amount, "currency": "IDR"}


async def new_product(stub: Stub, category: pb.Category, shop_id: str | None = None) -> pb.Product:
    """An active product with four SKUs: 45,000 (M) and 50,000 (L)."""
    request = new_product_request(shop_id or new_shop(), category.id)
    return (await stub.CreateProduct(request, metadata=ADMIN)).product


async def quote(stub: Stub, *lines: tuple[str, int], at: datetime | None = None) -> ppb.QuotePricesResponse:
    request = ppb.QuotePricesRequest(lines=[ppb.QuoteLine(sku_id=s, quantity=q) for s, q in lines])
    if at is not None:
        request.at.CopyFrom(stamp(at))
    return await stub.QuotePrices(request)


def next_tier(line: ppb.QuotedLine) -> tuple[int, int] | None:
    """A quoted line's next tier as (min_quantity, unit price), or None without one."""
    if not line.HasField("next_tier"):
        return None
    return line.next_tier.min_quantity, line.next_tier.unit_price.amount


async def scheduled_sku(
    stub: Stub, category: pb.Category, start: datetime, length: timedelta
) -> tuple[str, str, ppb.PriceSchedule]:
    """A new shop's SKU (base 45,000) with a schedule at 41,000 over ``[start, start + length)``."""
    shop = new_shop()
    sku = (await new_product(stub, category, shop)).skus[0].id
    request = ppb.CreatePriceScheduleRequest(
        sku_id=sku, price=idr(41_000), start_time=stamp(start), end_time=stamp(start + length)
    )
    return shop, sku, (await stub.CreatePriceSchedule(request, metadata=as_seller(shop))).schedule


async def history(stub: Stub, sku_id: str) -> list[ppb.PriceChange]:
    return list((await stub.GetPriceHistory(ppb.GetPriceHistoryRequest(sku_id=sku_id))).changes)


async def history_rows(database: Database, sku_id: str) -> int:
    async with database.sessions() as session:
        query = select(func.count()).select_from(price_history).where(price_history.c.sku_id == sku_id)
        return int((await session.execute(query)).scalar_one())


async def reprice_base(stub: Stub, product: pb.Product, amount: int, metadata: object = ADMIN) -> pb.Product:
    changed = pb.Product(id=product.id)
    for sku in product.skus:
        changed.skus.add(code=sku.code, option_values=sku.option_values, price=sku.price)
    changed.skus[0].price.amount = amount
    request = pb.UpdateProductRequest(product=changed, update_mask=FieldMask(paths=["skus"]))
    return (await stub.UpdateProduct(request, metadata=metadata)).product  # type: ignore[arg-type]


# --- history and the lowest 30-day price --------------------------------------------------------------------


async def test_creating_and_repricing_a_sku_is_recorded_in_its_history(
    stub: Stub, category: pb.Category
) -> None:
    product = await new_product(stub, category)
    sku = product.skus[0]

    await reprice_base(stub, product, 39_000)
    changes = await history(stub, sku.id)
    views = (await stub.BatchGetSkus(pb.BatchGetSkusRequest(ids=[sku.id]))).skus

    assert [(c.old_price.amount, c.new_price.amount) for c in changes] == [(45_000, 39_000), (0, 45_000)]
    assert not changes[1].HasField("old_price")
    assert {c.source for c in changes} == {ppb.PRICE_CHANGE_SOURCE_MANUAL}
    assert changes[0].actor
    assert views[0].current_price.amount == 39_000
    assert views[0].current_price_source == ppb.PRICE_SOURCE_BASE
    # 45,000 was in effect before the cut: an honest strike-through may show it.
    assert views[0].lowest_price_30d.amount == 45_000


async def test_history_pages_newest_first(stub: Stub, category: pb.Category) -> None:
    product = await new_product(stub, category)
    for amount in (44_000, 43_000, 42_000):
        product = await reprice_base(stub, product, amount)

    first = await stub.GetPriceHistory(ppb.GetPriceHistoryRequest(sku_id=product.skus[0].id, page_size=3))
    second = await stub.GetPriceHistory(
        ppb.GetPriceHistoryRequest(sku_id=product.skus[0].id, page_size=3, page_token=first.next_page_token)
    )

    assert [c.new_price.amount for c in first.changes] == [42_000, 43_000, 44_000]
    assert [c.new_price.amount for c in second.changes] == [45_000]
    assert second.next_page_token == ""
    assert first.lowest_price_30d.amount == 43_000


# --- bounds -------------------------------------------------------------------------------------------------


async def test_a_manual_price_outside_the_bounds_is_refused_and_nothing_is_written(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    shop = new_shop()
    product = await new_product(stub, category, shop)
    sku = product.skus[0]
    seller = as_seller(shop)
    bounds = ppb.SetPriceBoundsRequest(sku_id=sku.id, floor_price=idr(40_000), ceiling_price=idr(60_000))
    pricing_ = (await stub.SetPriceBounds(bounds, metadata=seller)).pricing
    rows_before = await history_rows(database, sku.id)

    below = await failure(stub.UpdateProduct(_price_update(product, 39_900), metadata=seller))
    above = await failure(stub.UpdateProduct(_price_update(product, 60_100), metadata=seller))
    bad_bounds = await failure(
        stub.SetPriceBounds(
            ppb.SetPriceBoundsRequest(sku_id=sku.id, floor_price=idr(46_000), ceiling_price=idr(60_000)),
            metadata=seller,
        )
    )

    assert (pricing_.floor_price.amount, pricing_.ceiling_price.amount) == (40_000, 60_000)
    assert below == (INVALID, "PRICE_BELOW_FLOOR", ["product.skus[0].price.amount"])
    assert above == (INVALID, "PRICE_ABOVE_CEILING", ["product.skus[0].price.amount"])
    assert bad_bounds[:2] == (INVALID, "PRICE_BELOW_FLOOR")
    unchanged = (await stub.GetProduct(pb.GetProductRequest(id=product.id))).product
    assert unchanged.skus[0].price.amount == 45_000
    assert await history_rows(database, sku.id) == rows_before


def _price_update(product: pb.Product, amount: int) -> pb.UpdateProductRequest:
    changed = pb.Product(id=product.id)
    for sku in product.skus:
        changed.skus.add(code=sku.code, option_values=sku.option_values, price=sku.price)
    changed.skus[0].price.amount = amount
    return pb.UpdateProductRequest(product=changed, update_mask=FieldMask(paths=["skus"]))


async def test_a_seller_cannot_price_another_shops_sku(stub: Stub, category: pb.Category) -> None:
    product = await new_product(stub, category)
    intruder = as_seller(new_shop())

    code, reason, _ = await failure(
        stub.SetQuantityTiers(
            ppb.SetQuantityTiersRequest(
                sku_id=product.skus[0].id, tiers=[{"min_quantity": 3, "unit_price": idr(1)}]
            ),
            metadata=intruder,
        )
    )

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_SHOP_OWNER")


# --- tiers and quotes ---------------------------------------------------------------------------------------


async def test_quantity_tiers_price_larger_lines(stub: Stub, category: pb.Category) -> None:
    shop = new_shop()
    product = await new_product(stub, category, shop)
    sku = product.skus[0].id
    tiers = [{"min_quantity": 3, "unit_price": idr(43_000)}, {"min_quantity": 12, "unit_price": idr(40_000)}]
    await stub.SetQuantityTiers(
        ppb.SetQuantityTiersRequest(sku_id=sku, tiers=tiers), metadata=as_seller(shop)
    )

    quoted = await quote(stub, (sku, 1), (product.skus[1].id, 12))
    wholesale = await quote(stub, (sku, 12))
    middle = await quote(stub, (sku, 5))

    assert (quoted.lines[0].unit_price.amount, quoted.lines[0].source) == (45_000, ppb.PRICE_SOURCE_BASE)
    assert quoted.lines[1].line_total.amount == 50_000 * 12
    assert quoted.total.amount == 45_000 + 50_000 * 12
    assert (wholesale.lines[0].unit_price.amount, wholesale.lines[0].source) == (
        40_000,
        ppb.PRICE_SOURCE_TIER,
    )
    assert wholesale.lines[0].line_total.amount == 480_000
    assert middle.lines[0].unit_price.amount == 43_000
    expiry = quoted.expire_time.ToDatetime(tzinfo=UTC) - quoted.quote_time.ToDatetime(tzinfo=UTC)
    assert expiry == timedelta(minutes=5)


async def test_tiers_that_do_not_decrease_are_refused(stub: Stub, category: pb.Category) -> None:
    product = await new_product(stub, category)
    tiers = [{"min_quantity": 3, "unit_price": idr(43_000)}, {"min_quantity": 6, "unit_price": idr(44_000)}]

    code, reason, fields = await failure(
        stub.SetQuantityTiers(
            ppb.SetQuantityTiersRequest(sku_id=product.skus[0].id, tiers=tiers), metadata=ADMIN
        )
    )

    assert (code, reason, fields) == (INVALID, "INVALID_TIER", ["tiers[1].unit_price.amount"])


async def test_bad_quote_lines_get_a_clear_reason(stub: Stub, category: pb.Category) -> None:
    product = await new_product(stub, category)
    sku = product.skus[0].id
    archived = await new_product(stub, category)
    await stub.ArchiveProduct(pb.ArchiveProductRequest(id=archived.id), metadata=ADMIN)

    negative = await failure(quote(stub, (sku, -1)))
    zero = await failure(quote(stub, (sku, 0)))
    too_many_units = await failure(quote(stub, (sku, 10_001)))
    unknown = await failure(quote(stub, (sku, 1), (str(uuid.uuid4()), 1)))
    off_sale = await failure(quote(stub, (archived.skus[0].id, 1)))
    too_many_lines = await failure(quote(stub, *[(str(uuid.uuid4()), 1) for _ in range(101)]))
    twice = await failure(quote(stub, (sku, 1), (sku, 2)))

    assert negative == (INVALID, "INVALID_QUANTITY", ["lines[0].quantity"])
    assert zero == too_many_units == negative
    assert unknown == (grpc.StatusCode.NOT_FOUND, "SKU_NOT_FOUND", ["lines[1].sku_id"])
    assert off_sale == (grpc.StatusCode.FAILED_PRECONDITION, "SKU_NOT_FOR_SALE", ["lines[0].sku_id"])
    assert too_many_lines[:2] == (INVALID, "TOO_MANY_LINES")
    assert twice == (INVALID, "DUPLICATE_LINE", ["lines[1].sku_id"])


async def test_a_quotes_buyer_id_is_a_user_id_when_given(stub: Stub, category: pb.Category) -> None:
    sku = (await new_product(stub, category)).skus[0].id
    line = ppb.QuoteLine(sku_id=sku, quantity=1)

    anonymous = await stub.QuotePrices(ppb.QuotePricesRequest(lines=[line]))
    known = await stub.QuotePrices(ppb.QuotePricesRequest(lines=[line], buyer_id=str(uuid.uuid4())))
    not_an_id = await failure(stub.QuotePrices(ppb.QuotePricesRequest(lines=[line], buyer_id="budi")))
    with_a_bad_line = await failure(
        stub.QuotePrices(
            ppb.QuotePricesRequest(lines=[ppb.QuoteLine(sku_id=sku, quantity=0)], buyer_id="budi")
        )
    )

    assert known.lines[0].unit_price == anonymous.lines[0].unit_price
    assert not_an_id == (INVALID, "INVALID_ID", ["buyer_id"])
    assert with_a_bad_line == (INVALID, "VALIDATION_FAILED", ["buyer_id", "lines[0].quantity"])


# --- schedules ----------------------------------------------------------------------------------------------


async def test_a_scheduled_price_applies_in_its_window_and_overlaps_are_refused(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    shop, sku, schedule = await scheduled_sku(stub, category, start, timedelta(hours=2))
    rows = await history_rows(database, sku)

    overlapping = ppb.CreatePriceScheduleRequest(
        sku_id=sku,
        price=idr(42_000),
        start_time=stamp(start + timedelta(hours=1)),
        end_time=stamp(start + timedelta(hours=4)),
    )
    overlap = await failure(stub.CreatePriceSchedule(overlapping, metadata=as_seller(shop)))
    before = await quote(stub, (sku, 1), at=start - timedelta(minutes=1))
    during = await quote(stub, (sku, 1), at=start + timedelta(minutes=30))
    past = await failure(
        stub.CreatePriceSchedule(
            ppb.CreatePriceScheduleRequest(
                sku_id=sku,
                price=idr(41_000),
                start_time=stamp(start - timedelta(days=1)),
                end_time=stamp(start - timedelta(hours=23)),
            ),
            metadata=as_seller(shop),
        )
    )

    assert overlap[:2] == (grpc.StatusCode.ALREADY_EXISTS, "SCHEDULE_OVERLAP")
    assert past[:2] == (INVALID, "INVALID_WINDOW")
    assert await history_rows(database, sku) == rows
    # The quote made a minute before the window expires when it opens.
    assert before.lines[0].unit_price.amount == 45_000
    assert before.expire_time.ToDatetime(tzinfo=UTC) == start
    assert (during.lines[0].unit_price.amount, during.lines[0].rule_id) == (41_000, schedule.id)
    assert during.lines[0].source == ppb.PRICE_SOURCE_SCHEDULE


async def test_the_scheduler_applies_a_due_schedule_exactly_once_while_workers_race(
    stub: Stub, category: pb.Category, settings: ProductSettings, database: Database
) -> None:
    start = datetime.now(UTC) + timedelta(seconds=1)
    _, sku, schedule = await scheduled_sku(stub, category, start, timedelta(hours=1))
    valkey = create_valkey(settings.redis_url)
    racer = Catalog(database=database, cache=product_cache(settings, valkey), clock=lambda: start)

    await asyncio.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()))
    # Three more workers race the service's own scheduler for the same due boundary.
    applied = await asyncio.gather(*(apply_due_boundaries(catalog=racer) for _ in range(3)))
    await valkey.aclose()
    deadline = time.monotonic() + 10
    while (await history(stub, sku))[0].source != ppb.PRICE_CHANGE_SOURCE_SCHEDULE:
        assert time.monotonic() < deadline, "the schedule was not applied"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # give a wrongly repeated application the chance to show

    changes = await history(stub, sku)
    scheduled = [c for c in changes if c.source == ppb.PRICE_CHANGE_SOURCE_SCHEDULE]
    assert len(scheduled) == 1
    assert (scheduled[0].old_price.amount, scheduled[0].new_price.amount) == (45_000, 41_000)
    assert scheduled[0].rule_id == schedule.id
    assert sum(applied) <= 1
    view = (await stub.BatchGetSkus(pb.BatchGetSkusRequest(ids=[sku]))).skus[0]
    assert (view.current_price.amount, view.current_price_source) == (41_000, ppb.PRICE_SOURCE_SCHEDULE)


async def test_cancelling_a_running_schedule_restores_the_base_price(
    stub: Stub, category: pb.Category
) -> None:
    shop, sku, schedule = await scheduled_sku(stub, category, datetime.now(UTC), timedelta(hours=1))
    running = await quote(stub, (sku, 1))

    cancelled = (
        await stub.CancelPriceSchedule(
            ppb.CancelPriceScheduleRequest(id=schedule.id), metadata=as_seller(shop)
        )
    ).schedule
    after = await quote(stub, (sku, 1))

    assert running.lines[0].unit_price.amount == 41_000
    assert cancelled.HasField("cancel_time")
    assert after.lines[0].unit_price.amount == 45_000
    assert [c.new_price.amount for c in await history(stub, sku)][:2] == [45_000, 41_000]


async def test_cancelling_a_schedule_while_the_scheduler_holds_its_boundary_does_not_deadlock(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    # The scheduler claims a boundary and then locks its SKU's pricing row; a cancellation takes the
    # pricing row first. Given a claim in flight, when the seller cancels and the claim goes on to the
    # pricing row, then both get through: no deadlock, no error for the seller.
    start = datetime.now(UTC) + timedelta(hours=1)
    shop, sku, schedule = await scheduled_sku(stub, category, start, timedelta(hours=1))

    async with database.sessions() as scheduler, scheduler.begin():
        claimed = await scheduler.execute(
            select(price_boundaries.c.id).where(price_boundaries.c.ref_id == schedule.id).with_for_update()
        )
        assert len(claimed.all()) == 2
        cancelling = asyncio.ensure_future(
            stub.CancelPriceSchedule(ppb.CancelPriceScheduleRequest(id=schedule.id), metadata=as_seller(shop))
        )
        await asyncio.wait({cancelling}, timeout=1.0)
        await scheduler.execute(
            select(sku_pricing.c.sku_id).where(sku_pricing.c.sku_id == sku).with_for_update()
        )
    cancelled = (await cancelling).schedule

    assert cancelled.HasField("cancel_time")
    assert (await quote(stub, (sku, 1), at=start + timedelta(minutes=5))).lines[0].unit_price.amount == 45_000


# --- campaigns ----------------------------------------------------------------------------------------------


async def new_campaign(stub: Stub, start: datetime, hours: int = 2) -> ppb.Campaign:
    request = ppb.CreateCampaignRequest(
        name="Flash Sale 12.12", start_time=stamp(start), end_time=stamp(start + timedelta(hours=hours))
    )
    return (await stub.CreateCampaign(request, metadata=ADMIN)).campaign


def campaign_sku(sku_id: str, price: int, quota: int = 100, limit: int = 2) -> ppb.CampaignSku:
    return ppb.CampaignSku(sku_id=sku_id, campaign_price=idr(price), quota=quota, per_buyer_limit=limit)


async def test_a_flash_sale_prices_its_skus_in_its_window_with_a_countdown(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    shop = new_shop()
    product = await new_product(stub, category, shop)
    sku = product.skus[0].id
    start = datetime.now(UTC) + timedelta(hours=1)
    campaign = await new_campaign(stub, start)

    joined = (
        await stub.AddCampaignSkus(
            ppb.AddCampaignSkusRequest(campaign_id=campaign.id, skus=[campaign_sku(sku, 29_000)]),
            metadata=as_seller(shop),
        )
    ).campaign
    in_window = await quote(stub, (sku, 2), at=start + timedelta(minutes=30))
    over_limit = await quote(stub, (sku, 3), at=start + timedelta(minutes=30))
    fetched = (await stub.GetCampaign(ppb.GetCampaignRequest(id=campaign.id))).campaign

    assert [s.sku_id for s in joined.skus] == [sku]
    assert joined.skus[0].shop_id == shop
    line = in_window.lines[0]
    assert (line.unit_price.amount, line.source, line.rule_id) == (
        29_000,
        ppb.PRICE_SOURCE_CAMPAIGN,
        campaign.id,
    )
    assert line.per_buyer_limit == 2
    assert line.campaign_countdown.seconds_to_end == 90 * 60
    assert line.base_price.amount == 45_000
    assert in_window.expire_time.ToDatetime(tzinfo=UTC) == start + timedelta(minutes=35)
    assert (over_limit.lines[0].unit_price.amount, over_limit.lines[0].source) == (
        45_000,
        ppb.PRICE_SOURCE_BASE,
    )
    assert 3_500 < fetched.countdown.seconds_to_start <= 3_600
    async with database.sessions() as session:
        announced = (
            await session.execute(
                select(outbox.c.envelope).where(
                    outbox.c.aggregate == campaign.id,
                    outbox.c.type == events_pb2.FlashSaleCampaignScheduled.DESCRIPTOR.full_name,
                )
            )
        ).scalar_one()
    event = events_pb2.FlashSaleCampaignScheduled()
    EventEnvelope.FromString(announced).payload.Unpack(event)
    assert [(s.sku_id, s.quota, s.per_buyer_limit, s.campaign_price.amount) for s in event.skus] == [
        (sku, 100, 2, 29_000)
    ]


async def test_a_quoted_line_names_the_next_tier_that_would_charge_it_less(
    stub: Stub, category: pb.Category
) -> None:
    shop = new_shop()
    sku = (await new_product(stub, category, shop)).skus[0].id
    tiers = [{"min_quantity": 3, "unit_price": idr(43_000)}, {"min_quantity": 12, "unit_price": idr(28_000)}]
    await stub.SetQuantityTiers(
        ppb.SetQuantityTiersRequest(sku_id=sku, tiers=tiers), metadata=as_seller(shop)
    )
    start = datetime.now(UTC) + timedelta(hours=1)
    campaign = await new_campaign(stub, start)
    await stub.AddCampaignSkus(
        ppb.AddCampaignSkusRequest(campaign_id=campaign.id, skus=[campaign_sku(sku, 29_000)]),
        metadata=as_seller(shop),
    )

    before = [
        (await quote(stub, (sku, units), at=start - timedelta(minutes=1))).lines[0] for units in (1, 5, 12)
    ]
    in_sale = (await quote(stub, (sku, 1), at=start + timedelta(minutes=1))).lines[0]

    assert [next_tier(line) for line in before] == [(3, 43_000), (12, 28_000), None]
    # In the flash sale one unit costs 29,000: 3 units (past the limit of 2) would cost 43,000 each,
    # so only the 12-unit tier is worth telling.
    assert (in_sale.unit_price.amount, next_tier(in_sale)) == (29_000, (12, 28_000))


async def test_a_sku_cannot_join_overlapping_campaigns_and_bad_terms_are_refused(
    stub: Stub, category: pb.Category, database: Database
) -> None:
    shop = new_shop()
    product = await new_product(stub, category, shop)
    sku = product.skus[0].id
    start = datetime.now(UTC) + timedelta(hours=1)
    first, second = await new_campaign(stub, start), await new_campaign(stub, start + timedelta(hours=1))
    seller = as_seller(shop)
    await stub.AddCampaignSkus(
        ppb.AddCampaignSkusRequest(campaign_id=first.id, skus=[campaign_sku(sku, 29_000)]), metadata=seller
    )

    overlap = await failure(
        stub.AddCampaignSkus(
            ppb.AddCampaignSkusRequest(campaign_id=second.id, skus=[campaign_sku(sku, 30_000)]),
            metadata=seller,
        )
    )
    dearer = await failure(
        stub.AddCampaignSkus(
            ppb.AddCampaignSkusRequest(
                campaign_id=second.id, skus=[campaign_sku(product.skus[1].id, 50_000)]
            ),
            metadata=seller,
        )
    )
    no_quota = await failure(
        stub.AddCampaignSkus(
            ppb.AddCampaignSkusRequest(
                campaign_id=second.id, skus=[campaign_sku(product.skus[1].id, 30_000, 0)]
            ),
            metadata=seller,
        )
    )
    # All or none: the good SKU of a batch with a bad one is not added either.
    mixed = await failure(
        stub.AddCampaignSkus(
            ppb.AddCampaignSkusRequest(
                campaign_id=second.id,
                skus=[
                    campaign_sku(product.skus[2].id, 30_000),
                    campaign_sku(product.skus[3].id, 30_000, 1, 0),
                ],
            ),
            metadata=seller,
        )
    )
    by_buyer = await failure(stub.CreateCampaign(ppb.CreateCampaignRequest(name="Nope"), metadata=seller))

    assert overlap == (grpc.StatusCode.ALREADY_EXISTS, "CAMPAIGN_OVERLAP", ["skus[0].sku_id"])
    assert dearer == (INVALID, "INVALID_CAMPAIGN_PRICE", ["skus[0].campaign_price.amount"])
    assert no_quota == (INVALID, "INVALID_CAMPAIGN_QUOTA", ["skus[0].quota"])
    assert mixed == (INVALID, "INVALID_PER_BUYER_LIMIT", ["skus[1].per_buyer_limit"])
    assert by_buyer[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert (await stub.GetCampaign(ppb.GetCampaignRequest(id=second.id))).campaign.skus == []


async def test_a_campaign_name_of_invisible_characters_or_with_bidi_controls_is_refused(stub: Stub) -> None:
    start = datetime.now(UTC) + timedelta(hours=1)
    window = {"start_time": stamp(start), "end_time": stamp(start + timedelta(hours=1))}

    blank = await failure(
        stub.CreateCampaign(
            ppb.CreateCampaignRequest(name="\u200b\u2060\ufeff\u200d", **window), metadata=ADMIN
        )
    )
    reordered = await failure(
        stub.CreateCampaign(ppb.CreateCampaignRequest(name="Flash \u202eELAS", **window), metadata=ADMIN)
    )
    cleaned = (
        await stub.CreateCampaign(ppb.CreateCampaignRequest(name="  Flash   Sale ", **window), metadata=ADMIN)
    ).campaign

    assert blank == reordered == (INVALID, "INVALID_CAMPAIGN_NAME", ["name"])
    assert cleaned.name == "Flash Sale"


# --- events -------------------------------------------------------------------------------------------------


@pytest.fixture
async def price_changes(settings: ProductSettings) -> AsyncIterator[asyncio.Queue[tuple[float, bytes]]]:
    """Every PriceChanged published from now on, with the monotonic time it arrived."""
    connection = await nats.connect(settings.nats_url)
    received: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def on_message(message: object) -> None:
        await received.put((time.monotonic(), message.data))  # type: ignore[attr-defined]
        await message.ack()  # type: ignore[attr-defined]

    subscription = await connection.jetstream().subscribe(
        "toko.product.PriceChanged",
        cb=on_message,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
    )
    yield received
    await subscription.unsubscribe()
    await connection.drain()


async def test_a_price_change_reaches_a_jetstream_subscriber_quickly(
    stub: Stub, category: pb.Category, price_changes: asyncio.Queue[tuple[float, bytes]]
) -> None:
    product = await new_product(stub, category)
    while not price_changes.empty():
        price_changes.get_nowait()
    latencies = []

    for amount in (44_000, 43_000, 42_000):
        started = time.monotonic()
        product = await reprice_base(stub, product, amount)
        while True:
            arrived, data = await asyncio.wait_for(price_changes.get(), timeout=5.0)
            event = events_pb2.PriceChanged()
            EventEnvelope.FromString(data).payload.Unpack(event)
            if event.sku_id == product.skus[0].id and event.new_price.amount == amount:
                break
        latencies.append(arrived - started)

    assert event.source == ppb.PRICE_CHANGE_SOURCE_MANUAL
    assert event.product_id == product.id
    assert max(latencies) < 5.0
    print(f"PriceChanged latency: {[round(s * 1000, 1) for s in latencies]} ms")


# --- dynamic pricing ----------------------------------------------------------------------------------------


async def test_dynamic_rules_lower_an_overstocked_sku_within_its_bounds(
    stub: Stub, category: pb.Category, settings: ProductSettings, database: Database
) -> None:
    shop = new_shop()
    product = await new_product(stub, category, shop)
    sku = product.skus[0].id
    seller = as_seller(shop)
    no_bounds = await failure(
        stub.SetDynamicRules(
            ppb.SetDynamicRulesRequest(
                sku_id=sku,
                rules=[{"kind": ppb.DYNAMIC_RULE_KIND_LOWER_WHEN_OVERSTOCKED, "percent": 15, "days": 30}],
            ),
            metadata=seller,
        )
    )
    await stub.SetPriceBounds(
        ppb.SetPriceBoundsRequest(sku_id=sku, floor_price=idr(40_000), ceiling_price=idr(55_000)),
        metadata=seller,
    )
    rules = (
        await stub.SetDynamicRules(
            ppb.SetDynamicRulesRequest(
                sku_id=sku,
                rules=[{"kind": ppb.DYNAMIC_RULE_KIND_LOWER_WHEN_OVERSTOCKED, "percent": 15, "days": 30}],
            ),
            metadata=seller,
        )
    ).pricing

    # Plenty of stock and no sales: the stock covers more than 30 days.
    await publish_inventory_event(
        settings.nats_url,
        inventory_events.StockAvailabilityChanged(
            sku_id=sku, shop_id=shop, in_stock=True, quantity_bucket="21+", version=1
        ),
    )
    deadline = time.monotonic() + 10
    while (await quote(stub, (sku, 1))).lines[0].source != ppb.PRICE_SOURCE_DYNAMIC:
        assert time.monotonic() < deadline, "the dynamic rule did not apply"
        await asyncio.sleep(0.05)

    line = (await quote(stub, (sku, 1))).lines[0]
    change = (await history(stub, sku))[0]
    assert no_bounds[:2] == (INVALID, "DYNAMIC_BOUNDS_REQUIRED")
    # 45,000 less 15 % is 38,250: clamped to the floor of 40,000.
    assert line.unit_price.amount == 40_000
    assert line.rule_id == rules.dynamic_rules[0].id
    assert (change.source, change.rule_id, change.actor) == (
        ppb.PRICE_CHANGE_SOURCE_DYNAMIC,
        rules.dynamic_rules[0].id,
        "system",
    )
    async with database.sessions() as session:
        stored = (
            await session.execute(select(sku_pricing.c.dynamic_price).where(sku_pricing.c.sku_id == sku))
        ).scalar_one()
    assert stored == 40_000
