"""Flash sales: the quota is held apart, claims never oversell, also when a claim dies mid-way or Valkey forgets."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from inventory_testkit import (
    Stub,
    admin,
    as_,
    buyer,
    failure,
    invariant_breaches,
    new_id,
    seller,
    stocked_sku,
)
from sqlalchemy import func, select

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database
from toko.platform.errors import FailedPrecondition
from toko.services.inventory.counters import FlashSaleCounters, counter_keys
from toko.services.inventory.handlers import Inventory
from toko.services.inventory.handlers.flash_sale import (
    Reconciliation,
    claim_flash_sale,
    reconcile_flash_sales,
)
from toko.services.inventory.repository.tables import flash_sale_allocations, flash_sale_claims

FAILED = grpc.StatusCode.FAILED_PRECONDITION


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def flash_sale(
    stub: Stub, quota: int, *, limit: int = 1, stock: int | None = None, starts_in: float = -60
) -> tuple[str, str, str]:
    """A running flash sale of a fresh SKU: (shop, campaign, sku)."""
    shop_id, _, sku_id = await stocked_sku(stub, stock if stock is not None else quota + 10)
    campaign_id = new_id()
    now = datetime.now(UTC)
    await stub.CreateFlashSaleAllocation(
        pb.CreateFlashSaleAllocationRequest(
            campaign_id=campaign_id,
            sku_id=sku_id,
            quantity=quota,
            per_buyer_limit=limit,
            start_time=stamp(now + timedelta(seconds=starts_in)),
            end_time=stamp(now + timedelta(hours=1)),
        ),
        metadata=as_(seller(shop_id)),
    )
    return shop_id, campaign_id, sku_id


async def durable_claims(database: Database, campaign_id: str) -> tuple[int, int]:
    """The allocation's claimed counter and the sum of its claim rows."""
    async with database.sessions() as session:
        allocation = (
            await session.execute(
                select(flash_sale_allocations.c.id, flash_sale_allocations.c.claimed).where(
                    flash_sale_allocations.c.campaign_id == campaign_id
                )
            )
        ).one()
        rows = (
            await session.execute(
                select(func.coalesce(func.sum(flash_sale_claims.c.quantity), 0)).where(
                    flash_sale_claims.c.allocation_id == allocation.id
                )
            )
        ).scalar_one()
    return allocation.claimed, int(rows)


async def test_the_quota_is_set_apart_from_regular_stock(stub: Stub, database: Database) -> None:
    shop_id, _, sku_id = await flash_sale(stub, 30, stock=50)

    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(seller(shop_id)))

    assert (stock.on_hand, stock.available, stock.levels[0].reserved) == (50, 20, 30)
    assert await invariant_breaches(database) == []


async def test_300_concurrent_claims_on_100_units_sell_exactly_100_within_the_buyer_limit(
    stub: Stub, database: Database
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 100, limit=2)
    buyers = [buyer(f"fs1-{n}") for n in range(100)]
    metadata = {b.subject: as_(b) for b in buyers}

    async def claim(who: str) -> tuple[str, grpc.StatusCode]:
        try:
            await stub.ClaimFlashSale(
                pb.ClaimFlashSaleRequest(campaign_id=campaign_id, sku_id=sku_id, quantity=1),
                metadata=metadata[who],
            )
        except grpc.aio.AioRpcError as error:
            return who, error.code()
        return who, grpc.StatusCode.OK

    outcomes = await asyncio.gather(*(claim(b.subject) for b in buyers * 3))
    per_buyer = Counter(who for who, code in outcomes if code == grpc.StatusCode.OK)
    sold_out = await failure(
        stub.ClaimFlashSale(
            pb.ClaimFlashSaleRequest(campaign_id=campaign_id, sku_id=sku_id, quantity=1),
            metadata=as_(buyer("late")),
        )
    )

    assert {code for _, code in outcomes} == {grpc.StatusCode.OK, FAILED}
    assert sum(per_buyer.values()) == 100
    assert max(per_buyer.values()) <= 2
    assert await durable_claims(database, campaign_id) == (100, 100)
    assert sold_out[:2] == (FAILED, "SOLD_OUT")


async def test_sold_out_is_answered_without_the_database(stub: Stub, inventory: Inventory) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 1)
    await stub.ClaimFlashSale(
        pb.ClaimFlashSaleRequest(campaign_id=campaign_id, sku_id=sku_id, quantity=1),
        metadata=as_(buyer("fs2")),
    )
    # A front whose database does not exist: any PostgreSQL round trip would fail loudly.
    from toko.platform.db import Database as Db

    unreachable = Db(inventory.database.url.set(database="no_such_database"), pool_size=1)
    offline = Inventory(database=unreachable, flash_sales=FlashSaleCounters(inventory.flash_sales.valkey))
    try:
        with pytest.raises(FailedPrecondition) as refused:
            await claim_flash_sale(
                inventory=offline,
                campaign_id=campaign_id,
                sku_id=sku_id,
                quantity=1,
                principal=buyer("fs2-b"),
            )
    finally:
        await unreachable.dispose()

    assert refused.value.reason == "SOLD_OUT"


async def test_claims_that_die_between_the_decrement_and_the_write_never_oversell(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 20)
    stuck = asyncio.Event()
    dying = replace(
        inventory,
        flash_sales=FlashSaleCounters(inventory.flash_sales.valkey, after_decrement=stuck.wait),
    )
    # Five claims take their units in Valkey and then their process "dies" before writing them.
    doomed = [
        asyncio.create_task(
            claim_flash_sale(
                inventory=dying,
                campaign_id=campaign_id,
                sku_id=sku_id,
                quantity=1,
                principal=buyer(f"fs3-{n}"),
            )
        )
        for n in range(5)
    ]
    await asyncio.sleep(0.2)
    for task in doomed:
        task.cancel()
    await asyncio.gather(*doomed, return_exceptions=True)
    remaining_before = int(
        await inventory.flash_sales.valkey.hget(counter_keys(campaign_id, sku_id)[0], "remaining")
    )

    # A restarted process reconciles before serving, then the sale goes on.
    await reconcile_flash_sales(inventory=inventory, force=True)
    outcomes = await asyncio.gather(
        *(
            claim_flash_sale(
                inventory=inventory,
                campaign_id=campaign_id,
                sku_id=sku_id,
                quantity=1,
                principal=buyer(f"fs3-{n}"),
            )
            for n in range(40)
        ),
        return_exceptions=True,
    )

    assert remaining_before == 15  # the leaked decrements: underselling until reconciled, never overselling
    assert sum(1 for o in outcomes if isinstance(o, pb.ClaimFlashSaleResponse)) == 20
    assert await durable_claims(database, campaign_id) == (20, 20)


async def test_periodic_reconciliation_repairs_a_leak_once_it_is_stable(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 10)
    state = counter_keys(campaign_id, sku_id)[0]
    await inventory.flash_sales.valkey.hincrby(state, "remaining", -3)  # as if three claims died mid-way

    first = await reconcile_flash_sales(inventory=inventory)
    second = await reconcile_flash_sales(inventory=inventory)

    # A single sighting may be a claim in flight; a repeated one is a leak.
    assert (first.rewritten, second.rewritten) == (0, 1)
    assert int(await inventory.flash_sales.valkey.hget(state, "remaining")) == 10


async def test_reconciliation_a_batch_at_a_time_reaches_every_live_allocation(
    stub: Stub, inventory: Inventory
) -> None:
    sales = [await flash_sale(stub, 10) for _ in range(3)]
    valkey = inventory.flash_sales.valkey
    for _, campaign_id, sku_id in sales:
        await valkey.hincrby(counter_keys(campaign_id, sku_id)[0], "remaining", -2)  # leaked decrements
    fresh = replace(inventory, flash_sales=FlashSaleCounters(valkey))

    async def one_pass() -> list[Reconciliation]:
        """Batches of two until one comes back short, as the worker runs them."""
        batches = [await reconcile_flash_sales(inventory=fresh, limit=2)]
        while batches[-1].checked == 2:
            batches.append(await reconcile_flash_sales(inventory=fresh, limit=2))
        return batches

    first = await one_pass()
    await one_pass()

    assert len(first) >= 2
    assert sum(batch.checked for batch in first) >= len(sales)
    for _, campaign_id, sku_id in sales:
        assert int(await valkey.hget(counter_keys(campaign_id, sku_id)[0], "remaining")) == 10


async def test_valkey_believing_too_much_still_cannot_oversell(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 10)
    await inventory.flash_sales.valkey.hset(counter_keys(campaign_id, sku_id)[0], "remaining", 1000)

    outcomes = await asyncio.gather(
        *(
            claim_flash_sale(
                inventory=inventory,
                campaign_id=campaign_id,
                sku_id=sku_id,
                quantity=1,
                principal=buyer(f"fs4-{n}"),
            )
            for n in range(30)
        ),
        return_exceptions=True,
    )

    assert sum(1 for o in outcomes if isinstance(o, pb.ClaimFlashSaleResponse)) == 10
    assert {o.reason for o in outcomes if isinstance(o, FailedPrecondition)} == {"SOLD_OUT"}
    assert await durable_claims(database, campaign_id) == (10, 10)


async def test_a_valkey_that_lost_its_counters_reloads_them_from_the_claims(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 10, limit=3)
    for _ in range(3):
        await claim_flash_sale(
            inventory=inventory, campaign_id=campaign_id, sku_id=sku_id, quantity=1, principal=buyer("fs5")
        )
    await inventory.flash_sales.valkey.delete(*counter_keys(campaign_id, sku_id))

    with pytest.raises(FailedPrecondition) as limited:
        await claim_flash_sale(
            inventory=inventory, campaign_id=campaign_id, sku_id=sku_id, quantity=1, principal=buyer("fs5")
        )
    other = await claim_flash_sale(
        inventory=inventory, campaign_id=campaign_id, sku_id=sku_id, quantity=3, principal=buyer("fs5-b")
    )

    assert limited.value.reason == "PURCHASE_LIMIT_REACHED"
    assert other.buyer_total == 3
    assert await durable_claims(database, campaign_id) == (6, 6)
    assert (
        int(await inventory.flash_sales.valkey.hget(counter_keys(campaign_id, sku_id)[0], "remaining")) == 4
    )


async def test_a_retried_claim_with_an_idempotency_key_takes_its_units_once(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 5, limit=5)

    first = await claim_flash_sale(
        inventory=inventory,
        campaign_id=campaign_id,
        sku_id=sku_id,
        quantity=2,
        principal=buyer("fs6"),
        idempotency_key="k1",
    )
    again = await claim_flash_sale(
        inventory=inventory,
        campaign_id=campaign_id,
        sku_id=sku_id,
        quantity=2,
        principal=buyer("fs6"),
        idempotency_key="k1",
    )

    assert again.claim_id == first.claim_id
    assert await durable_claims(database, campaign_id) == (2, 2)
    assert (
        int(await inventory.flash_sales.valkey.hget(counter_keys(campaign_id, sku_id)[0], "remaining")) == 3
    )


async def test_bad_flash_sales_get_clear_reasons_and_write_nothing(stub: Stub, database: Database) -> None:
    shop_id, _, sku_id = await stocked_sku(stub, 10)
    now = datetime.now(UTC)

    def request(**fields: object) -> pb.CreateFlashSaleAllocationRequest:
        base = {
            "campaign_id": new_id(),
            "sku_id": sku_id,
            "quantity": 5,
            "per_buyer_limit": 1,
            "start_time": stamp(now),
            "end_time": stamp(now + timedelta(hours=1)),
        }
        return pb.CreateFlashSaleAllocationRequest(**(base | fields))  # type: ignore[arg-type]

    too_many = await failure(
        stub.CreateFlashSaleAllocation(request(quantity=11), metadata=as_(seller(shop_id)))
    )
    await stub.CreateFlashSaleAllocation(request(), metadata=as_(seller(shop_id)))
    overlap = await failure(
        stub.CreateFlashSaleAllocation(
            request(start_time=stamp(now + timedelta(minutes=30)), end_time=stamp(now + timedelta(hours=2))),
            metadata=as_(seller(shop_id)),
        )
    )
    backwards = await failure(
        stub.CreateFlashSaleAllocation(
            request(end_time=stamp(now - timedelta(hours=1))), metadata=as_(seller(shop_id))
        )
    )
    limit = await failure(
        stub.CreateFlashSaleAllocation(request(per_buyer_limit=0), metadata=as_(seller(shop_id)))
    )
    others = await failure(stub.CreateFlashSaleAllocation(request(), metadata=as_(seller(new_id()))))
    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(admin()))

    assert too_many[:2] == (FAILED, "CAMPAIGN_QUOTA_EXCEEDS_STOCK")
    assert overlap[:2] == (FAILED, "CAMPAIGN_OVERLAP")
    assert backwards[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TIME_WINDOW")
    assert limit[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_PER_BUYER_LIMIT")
    assert others[:2] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_SHOP_OWNER")
    assert (stock.available, stock.levels[0].reserved) == (5, 5)  # only the one good quota was set apart
    assert await invariant_breaches(database) == []


async def test_claims_need_a_signed_in_caller_and_a_started_sale(stub: Stub) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 5, starts_in=3600 - 1)
    claim = pb.ClaimFlashSaleRequest(campaign_id=campaign_id, sku_id=sku_id, quantity=1)

    anonymous = await failure(stub.ClaimFlashSale(claim))
    early = await failure(stub.ClaimFlashSale(claim, metadata=as_(buyer("fs7"))))
    unknown = await failure(
        stub.ClaimFlashSale(
            pb.ClaimFlashSaleRequest(campaign_id=new_id(), sku_id=sku_id, quantity=1),
            metadata=as_(buyer("fs7")),
        )
    )
    zero = await failure(
        stub.ClaimFlashSale(
            pb.ClaimFlashSaleRequest(campaign_id=campaign_id, sku_id=sku_id, quantity=0),
            metadata=as_(buyer("fs7")),
        )
    )

    assert anonymous[:2] == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")
    assert early[:2] == (FAILED, "FLASH_SALE_NOT_STARTED")
    assert unknown[:2] == (grpc.StatusCode.NOT_FOUND, "FLASH_SALE_NOT_FOUND")
    assert zero[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_QUANTITY")
