"""The price scheduler of an idle service: asleep until a schedule or campaign window opens, then on time."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from product_testkit import ADMIN, as_seller, new_product_request, new_shop, product_settings

from toko.common.v1.money_pb2 import Money
from toko.infra.servers import InfraEndpoints
from toko.product.v1 import pricing_pb2 as ppb
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc
from toko.services.product.settings import ProductSettings

Stub = product_pb2_grpc.ProductServiceStub
# How soon after its time a boundary is applied, at the most, on a loaded machine.
ON_TIME = timedelta(seconds=1.5)


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints) -> ProductSettings:
    """A scheduler that, left to itself, sleeps far longer than any test waits (a minute)."""
    return product_settings(
        infrastructure,
        f"price_scheduler_{uuid.uuid4().hex[:8]}",
        price_scheduler_interval_seconds=60.0,
        price_scheduler_idle_interval_seconds=60.0,
    )


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


async def sellers_sku(stub: Stub, category: pb.Category) -> tuple[str, str]:
    """A new shop, and the first SKU (base 45,000) of an active product of it."""
    shop = new_shop()
    product = (await stub.CreateProduct(new_product_request(shop, category.id), metadata=ADMIN)).product
    return shop, product.skus[0].id


def window_opening_soon() -> tuple[datetime, Timestamp, Timestamp]:
    """An hour's window opening in two seconds: its start, and its start and end on the wire."""
    start = datetime.now(UTC) + timedelta(seconds=2)
    return start, stamp(start), stamp(start + timedelta(hours=1))


async def first_change_from(stub: Stub, sku_id: str, source: int) -> ppb.PriceChange:
    """The SKU's first price change from ``source``, once there is one (ten seconds at most)."""
    deadline = time.monotonic() + 10
    while True:
        changes = (await stub.GetPriceHistory(ppb.GetPriceHistoryRequest(sku_id=sku_id))).changes
        found = [c for c in changes if c.source == source]
        if found:
            return found[-1]
        assert time.monotonic() < deadline, "the boundary was not applied"
        await asyncio.sleep(0.05)


async def test_a_new_schedule_wakes_the_idle_scheduler_to_apply_it_when_its_window_opens(
    stub: Stub, category: pb.Category
) -> None:
    shop, sku = await sellers_sku(stub, category)
    start, opens, closes = window_opening_soon()

    request = ppb.CreatePriceScheduleRequest(
        sku_id=sku, price=Money(amount=41_000, currency="IDR"), start_time=opens, end_time=closes
    )
    schedule = (await stub.CreatePriceSchedule(request, metadata=as_seller(shop))).schedule
    change = await first_change_from(stub, sku, ppb.PRICE_CHANGE_SOURCE_SCHEDULE)

    assert start <= change.change_time.ToDatetime(tzinfo=UTC) < start + ON_TIME
    assert (change.new_price.amount, change.rule_id) == (41_000, schedule.id)


async def test_skus_joining_a_campaign_wake_the_idle_scheduler_to_apply_it_when_it_starts(
    stub: Stub, category: pb.Category
) -> None:
    shop, sku = await sellers_sku(stub, category)
    start, opens, closes = window_opening_soon()
    request = ppb.CreateCampaignRequest(name="Flash Sale Kilat", start_time=opens, end_time=closes)
    campaign = (await stub.CreateCampaign(request, metadata=ADMIN)).campaign

    await stub.AddCampaignSkus(
        ppb.AddCampaignSkusRequest(
            campaign_id=campaign.id,
            skus=[
                ppb.CampaignSku(
                    sku_id=sku,
                    campaign_price=Money(amount=29_000, currency="IDR"),
                    quota=10,
                    per_buyer_limit=1,
                )
            ],
        ),
        metadata=as_seller(shop),
    )
    change = await first_change_from(stub, sku, ppb.PRICE_CHANGE_SOURCE_CAMPAIGN)

    assert start <= change.change_time.ToDatetime(tzinfo=UTC) < start + ON_TIME
    assert (change.new_price.amount, change.rule_id) == (29_000, campaign.id)
