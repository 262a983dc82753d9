"""Flash-sale claims bought through checkout: a reservation line citing a claim holds the claim's units (not
regular stock), a release gives them back to the quota, a claim nobody uses lapses, and an ended campaign
puts its unsold quota back on sale."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
from inventory_testkit import Stub, as_, buyer, failure, invariant_breaches, new_id, seller, service
from test_inventory_flash_sale import durable_claims, flash_sale

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.db import Database
from toko.services.inventory.handlers import Inventory
from toko.services.inventory.handlers.flash_sale import flash_sale_upkeep

FAILED = grpc.StatusCode.FAILED_PRECONDITION


async def claim(
    stub: Stub, campaign_id: str, sku_id: str, who: str, quantity: int = 1
) -> pb.ClaimFlashSaleResponse:
    return await stub.ClaimFlashSale(
        pb.ClaimFlashSaleRequest(campaign_id=campaign_id, sku_id=sku_id, quantity=quantity),
        metadata=as_(buyer(who)),
    )


async def reserve_claim(
    stub: Stub, sku_id: str, claim_id: str, who: str, quantity: int = 1, reference: str = ""
) -> pb.Reservation:
    reply = await stub.Reserve(
        pb.ReserveRequest(
            reference=reference or new_id(),
            lines=[pb.ReservationLine(sku_id=sku_id, quantity=quantity, flash_sale_claim_id=claim_id)],
            buyer_id=buyer(who).subject,
            ttl_seconds=600,
        ),
        metadata=as_(service()),
    )
    return reply.reservation


async def levels(stub: Stub, shop_id: str, sku_id: str) -> tuple[int, int, int]:
    stock = await stub.GetSkuStock(pb.GetSkuStockRequest(sku_id=sku_id), metadata=as_(seller(shop_id)))
    return stock.on_hand, stock.available, stock.levels[0].reserved


async def test_a_claimed_line_holds_the_claims_units_and_a_commit_sells_them(
    stub: Stub, database: Database
) -> None:
    shop_id, campaign_id, sku_id = await flash_sale(stub, 5, stock=20)
    claimed = await claim(stub, campaign_id, sku_id, "fc1")

    reservation = await reserve_claim(stub, sku_id, claimed.claim_id, "fc1")
    held = await levels(stub, shop_id, sku_id)
    await stub.CommitReservation(
        pb.CommitReservationRequest(reference=reservation.reference), metadata=as_(service())
    )
    sold = await levels(stub, shop_id, sku_id)

    assert claimed.HasField("expire_time")
    assert reservation.lines[0].flash_sale_claim_id == claimed.claim_id
    assert held == (20, 15, 5)  # regular stock untouched: the unit was already set apart
    assert sold == (19, 15, 4)
    assert await invariant_breaches(database) == []


async def test_a_claim_is_used_once_by_its_own_buyer_for_its_own_sku_and_quantity(stub: Stub) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 5, limit=2)
    claimed = await claim(stub, campaign_id, sku_id, "fc2", quantity=2)
    _, _, other_sku = await flash_sale(stub, 5)

    strangers = await failure(reserve_claim(stub, sku_id, claimed.claim_id, "fc2-thief", quantity=2))
    wrong_quantity = await failure(reserve_claim(stub, sku_id, claimed.claim_id, "fc2", quantity=1))
    wrong_sku = await failure(reserve_claim(stub, other_sku, claimed.claim_id, "fc2", quantity=2))
    made_up = await failure(reserve_claim(stub, sku_id, new_id(), "fc2", quantity=2))
    no_buyer = await failure(
        stub.Reserve(
            pb.ReserveRequest(
                reference=new_id(),
                lines=[pb.ReservationLine(sku_id=sku_id, quantity=2, flash_sale_claim_id=claimed.claim_id)],
            ),
            metadata=as_(service()),
        )
    )
    await reserve_claim(stub, sku_id, claimed.claim_id, "fc2", quantity=2)
    again = await failure(reserve_claim(stub, sku_id, claimed.claim_id, "fc2", quantity=2))

    for refused in (strangers, wrong_quantity, wrong_sku, made_up, again):
        assert refused[:2] == (FAILED, "FLASH_SALE_CLAIM_INVALID")
    assert no_buyer[:2] == (grpc.StatusCode.INVALID_ARGUMENT, "BUYER_REQUIRED")
    assert "buyer_id" in no_buyer[2]


async def test_a_released_checkout_gives_its_claim_back_to_the_quota(stub: Stub, database: Database) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 1)
    first = await claim(stub, campaign_id, sku_id, "fc3-a")
    sold_out = await failure(claim(stub, campaign_id, sku_id, "fc3-b"))
    reservation = await reserve_claim(stub, sku_id, first.claim_id, "fc3-a")

    await stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reference=reservation.reference), metadata=as_(service())
    )
    second = await claim(stub, campaign_id, sku_id, "fc3-b")

    assert sold_out[:2] == (FAILED, "SOLD_OUT")
    assert second.quantity == 1
    assert await durable_claims(database, campaign_id) == (1, 2)
    assert await invariant_breaches(database) == []


async def test_a_claim_nobody_uses_lapses_and_its_unit_returns_to_the_quota(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 1)
    lapsing = await claim(stub, campaign_id, sku_id, "fc4-a")
    later = datetime.now(UTC) + timedelta(minutes=16)

    await flash_sale_upkeep(inventory=replace(inventory, clock=lambda: later))
    second = await claim(stub, campaign_id, sku_id, "fc4-b")
    too_late = await failure(reserve_claim(stub, sku_id, lapsing.claim_id, "fc4-a"))

    assert second.quantity == 1
    assert too_late[:2] == (FAILED, "FLASH_SALE_CLAIM_INVALID")
    assert await invariant_breaches(database) == []


async def test_an_ended_campaign_puts_what_it_did_not_sell_back_on_sale(
    stub: Stub, database: Database, inventory: Inventory
) -> None:
    shop_id, campaign_id, sku_id = await flash_sale(stub, 10, stock=30)
    sold = await claim(stub, campaign_id, sku_id, "fc5-sold")
    in_checkout = await claim(stub, campaign_id, sku_id, "fc5-paying")
    await claim(stub, campaign_id, sku_id, "fc5-idle")
    committed = await reserve_claim(stub, sku_id, sold.claim_id, "fc5-sold")
    await stub.CommitReservation(
        pb.CommitReservationRequest(reference=committed.reference), metadata=as_(service())
    )
    pending = await reserve_claim(stub, sku_id, in_checkout.claim_id, "fc5-paying")
    after_end = datetime.now(UTC) + timedelta(hours=2)

    await flash_sale_upkeep(inventory=replace(inventory, clock=lambda: after_end))
    closed = await levels(stub, shop_id, sku_id)
    ended_claim = await failure(claim(stub, campaign_id, sku_id, "fc5-late"))
    await stub.ReleaseReservation(
        pb.ReleaseReservationRequest(reference=pending.reference), metadata=as_(service())
    )
    released = await levels(stub, shop_id, sku_id)

    # 30 on hand, 1 sold: 8 of the quota back on sale at once, the unit still in a checkout when it ends.
    assert closed == (29, 20 + 8, 1)
    assert ended_claim[0] == FAILED  # its quota is back on sale: nothing left to claim
    assert released == (29, 29, 0)
    assert await invariant_breaches(database) == []


async def test_a_buyer_lists_only_their_own_claims_still_held(stub: Stub) -> None:
    _, campaign_id, sku_id = await flash_sale(stub, 5, limit=2)
    _, other_campaign, other_sku = await flash_sale(stub, 5)
    kept = await claim(stub, campaign_id, sku_id, "fc9", quantity=2)
    used = await claim(stub, other_campaign, other_sku, "fc9")
    await claim(stub, campaign_id, sku_id, "fc9-other")
    await reserve_claim(stub, other_sku, used.claim_id, "fc9")

    listed = (
        await stub.ListFlashSaleClaims(pb.ListFlashSaleClaimsRequest(), metadata=as_(buyer("fc9")))
    ).claims
    anonymous = await failure(stub.ListFlashSaleClaims(pb.ListFlashSaleClaimsRequest()))

    # The used claim is gone from the list, the other buyer's was never in it.
    assert [(c.id, c.campaign_id, c.sku_id, c.quantity) for c in listed] == [
        (kept.claim_id, campaign_id, sku_id, 2)
    ]
    assert listed[0].expire_time == kept.expire_time
    assert anonymous[0] == grpc.StatusCode.UNAUTHENTICATED
