"""Flash-sale campaigns scheduled in the product service get their quotas set apart by the inventory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import nats
from google.protobuf.timestamp_pb2 import Timestamp
from inventory_testkit import (
    Stub,
    admin,
    as_,
    buyer,
    failure,
    invariant_breaches,
    new_id,
    new_warehouse,
    receive,
)
from sqlalchemy import select

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import events_pb2
from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database
from toko.platform.events import PendingEvent
from toko.platform.outbox import ensure_streams
from toko.platform.schema import outbox
from toko.product.v1 import events_pb2 as product_events
from toko.product.v1 import pricing_pb2
from toko.services.inventory.repository.tables import flash_sale_allocations


def _stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def _publish(
    infrastructure: InfraEndpoints, *events: product_events.FlashSaleCampaignScheduled
) -> None:
    connection = await nats.connect(infrastructure.nats_url)
    try:
        js = connection.jetstream()
        await ensure_streams(js, ["product"])
        for message in events:
            event = PendingEvent(source="product", subject=message.campaign_id, message=message)
            await js.publish(
                event.nats_subject, event.envelope().SerializeToString(), headers={"Nats-Msg-Id": event.id}
            )
    finally:
        await connection.drain()


async def _refusals(database: Database, campaign_id: str) -> list[events_pb2.FlashSaleAllocationRefused]:
    async with database.sessions() as session:
        rows = await session.execute(
            select(outbox.c.envelope).where(
                outbox.c.type == events_pb2.FlashSaleAllocationRefused.DESCRIPTOR.full_name,
                outbox.c.aggregate == campaign_id,
            )
        )
        refusals = []
        for (data,) in rows:
            refused = events_pb2.FlashSaleAllocationRefused()
            EventEnvelope.FromString(data).payload.Unpack(refused)
            refusals.append(refused)
    return refusals


async def _level(stub: Stub, sku_id: str) -> pb.GetSkuStockResponse:
    return await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(admin()))


async def test_a_scheduled_campaign_sets_quotas_apart_and_refuses_what_stock_cannot_cover(
    stub: Stub, database: Database, infrastructure: InfraEndpoints
) -> None:
    shop_id, plenty, scarce = new_id(), new_id(), new_id()
    small = await new_warehouse(stub, shop_id, "Bandung", "Kecil")
    big = await new_warehouse(stub, shop_id, "Surabaya", "Besar")
    await receive(stub, shop_id, small, plenty, 5)
    await receive(stub, shop_id, big, plenty, 30)
    await receive(stub, shop_id, small, scarce, 3)
    now = datetime.now(UTC)
    campaign = product_events.FlashSaleCampaignScheduled(
        campaign_id=new_id(),
        name="Flash Sale 12.12",
        start_time=_stamp(now - timedelta(minutes=1)),
        end_time=_stamp(now + timedelta(hours=1)),
        skus=[
            pricing_pb2.CampaignSku(sku_id=plenty, shop_id=shop_id, quota=10, per_buyer_limit=2),
            pricing_pb2.CampaignSku(sku_id=scarce, shop_id=shop_id, quota=10, per_buyer_limit=1),
        ],
    )

    await _publish(infrastructure, campaign)
    allocation: pb.FlashSaleAllocation | None = None
    refusals: list[events_pb2.FlashSaleAllocationRefused] = []
    for _ in range(150):  # the consumer fetches every second; allow a loaded machine
        refusals = await _refusals(database, campaign.campaign_id)
        try:
            allocation = (
                await stub.GetFlashSaleAllocation(
                    pb.GetFlashSaleAllocationRequest(campaign_id=campaign.campaign_id, sku_id=plenty),
                    metadata=as_(admin()),
                )
            ).allocation
        except grpc.aio.AioRpcError:
            allocation = None
        if allocation is not None and refusals:
            break
        await asyncio.sleep(0.1)
    assert allocation is not None
    someone = as_(buyer("campaign-buyer"))
    claims = [
        await stub.ClaimFlashSale(
            pb.ClaimFlashSaleRequest(campaign_id=campaign.campaign_id, sku_id=plenty, quantity=1),
            metadata=someone,
        )
        for _ in range(2)
    ]
    over_limit = await failure(
        stub.ClaimFlashSale(
            pb.ClaimFlashSaleRequest(campaign_id=campaign.campaign_id, sku_id=plenty, quantity=1),
            metadata=someone,
        )
    )
    not_allocated = await failure(
        stub.GetFlashSaleAllocation(
            pb.GetFlashSaleAllocationRequest(campaign_id=campaign.campaign_id, sku_id=scarce),
            metadata=as_(admin()),
        )
    )
    scarce_stock = await _level(stub, scarce)

    # A redelivery under a new event id (past the inbox) changes nothing.
    await _publish(infrastructure, campaign)
    await asyncio.sleep(2.5)
    plenty_stock = await _level(stub, plenty)
    async with database.sessions() as session:
        allocations = (
            await session.execute(
                select(flash_sale_allocations.c.sku_id).where(
                    flash_sale_allocations.c.campaign_id == campaign.campaign_id
                )
            )
        ).all()

    assert (allocation.warehouse_id, allocation.quota, allocation.per_buyer_limit) == (big, 10, 2)
    assert allocation.start_time.ToDatetime(UTC) == campaign.start_time.ToDatetime(UTC)
    assert [c.buyer_total for c in claims] == [1, 2]
    assert over_limit[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "PURCHASE_LIMIT_REACHED")
    assert not_allocated[0] == grpc.StatusCode.NOT_FOUND
    assert (scarce_stock.on_hand, scarce_stock.available) == (3, 3)
    assert [level.reserved for level in scarce_stock.levels] == [0]
    assert [(r.sku_id, r.reason) for r in refusals][:1] == [(scarce, "CAMPAIGN_QUOTA_EXCEEDS_STOCK")]
    assert [row.sku_id for row in allocations] == [plenty]
    assert (plenty_stock.on_hand, plenty_stock.available) == (35, 25)
    assert await invariant_breaches(database) == []
