"""Carts through the real cart service, priced by the real product service: lines, caps, who may use
which cart, merging, and what a repriced cart tells the buyer."""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import grpc
from cart_testkit import (
    Products,
    Stub,
    archive,
    as_user,
    failure,
    lines,
    new_guest_cart,
    new_product,
    reprice,
    set_tiers,
)
from sqlalchemy import func, select

from toko.cart.v1 import cart_pb2 as pb
from toko.platform.db import Database
from toko.platform.schema import outbox
from toko.services.cart.repository import cart_lines, carts


async def test_a_guest_cart_is_created_filled_and_read_back_priced(
    stub: Stub, products: Products, category: str
) -> None:
    # Given a product on sale and a new guest cart
    product = await new_product(products, category, price=45_000)
    cart_id = await new_guest_cart(stub)

    # When the guest adds two units of a SKU with a note
    request = pb.AddCartLineRequest(
        cart_id=cart_id, sku_id=product.skus[0].id, quantity=2, note=" warna  hitam "
    )
    added = (await stub.AddCartLine(request)).cart

    # Then reading the cart shows the line priced, with the product's facts, grouped under its shop
    read = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart
    assert read.id == added.id == cart_id
    (shop,) = read.shops
    (line,) = shop.lines
    assert (shop.shop_id, line.product_id, line.product_title) == (product.shop_id, product.id, product.title)
    assert (line.quantity, line.note, line.selected, line.purchasable) == (2, "warna hitam", True, True)
    assert (line.unit_price.amount, line.line_total.amount, line.price_source) == (45_000, 90_000, "base")
    assert dict(line.option_values) == dict(product.skus[0].option_values)
    assert list(line.notices) == []
    assert (read.total_quantity, read.selected_quantity, read.selected_total.amount) == (2, 2, 90_000)
    assert (read.HasField("expire_time"), read.HasField("price_expire_time")) == (True, True)


async def test_the_same_sku_added_twice_is_one_line_with_the_sum(
    stub: Stub, products: Products, category: str
) -> None:
    product = await new_product(products, category)
    cart_id = await new_guest_cart(stub)

    for quantity in (2, 3):
        await stub.AddCartLine(
            pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=quantity)
        )

    cart = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart
    assert [(line.sku_id, line.quantity) for line in lines(cart).values()] == [(product.skus[0].id, 5)]


async def test_a_retried_add_with_the_same_idempotency_key_adds_once(
    stub: Stub, products: Products, category: str
) -> None:
    product = await new_product(products, category)
    cart_id = await new_guest_cart(stub)
    key = (("idempotency-key", str(uuid.uuid4())),)
    request = pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=2)

    first = (await stub.AddCartLine(request, metadata=key)).cart
    retried = (await stub.AddCartLine(request, metadata=key)).cart
    reused = await failure(
        stub.AddCartLine(
            pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=5), metadata=key
        )
    )
    another = (await stub.AddCartLine(request, metadata=(("idempotency-key", str(uuid.uuid4())),))).cart

    assert [line.quantity for line in lines(first).values()] == [2]
    assert [line.quantity for line in lines(retried).values()] == [2]
    assert reused[1] == "IDEMPOTENCY_KEY_REUSED"
    assert [line.quantity for line in lines(another).values()] == [4]


async def test_caps_on_quantity_note_and_lines_are_refused_with_reasons_and_write_nothing(
    stub: Stub, products: Products, category: str, database: Database
) -> None:
    # Given a guest cart holding the most lines a cart may hold
    product = await new_product(products, category, skus=101)
    cart_id = await new_guest_cart(stub)
    for sku in product.skus[:100]:
        await stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=sku.id, quantity=1))
    events = await _count(database, outbox)

    # When it is asked for a 101st line, 1000 units, more units than a line holds, and an overlong note
    full = await failure(
        stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[100].id, quantity=1))
    )
    many = await failure(
        stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=1000))
    )
    past = await failure(
        stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=999))
    )
    note = await failure(
        stub.AddCartLine(
            pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=1, note="x" * 201)
        )
    )

    # Then each is refused with its reason, and the cart is as it was
    assert full[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "CART_FULL")
    assert many == (grpc.StatusCode.INVALID_ARGUMENT, "QUANTITY_OUT_OF_RANGE", ["quantity"])
    assert past == (grpc.StatusCode.INVALID_ARGUMENT, "QUANTITY_OUT_OF_RANGE", ["quantity"])
    assert note == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NOTE", ["note"])
    cart = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart
    assert (len(lines(cart)), cart.total_quantity) == (100, 100)
    assert await _count(database, outbox) == events


async def test_a_sku_that_does_not_exist_or_is_not_sold_is_refused_and_nothing_is_written(
    stub: Stub, products: Products, category: str, database: Database
) -> None:
    archived = await new_product(products, category)
    await archive(products, archived)
    cart_id = await new_guest_cart(stub)
    before = await _count(database, cart_lines)

    unknown = await failure(
        stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=str(uuid.uuid4()), quantity=1))
    )
    off_sale = await failure(
        stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=archived.skus[0].id, quantity=1))
    )
    malformed = await failure(
        stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id="kaos", quantity=1))
    )

    assert unknown[:2] == (grpc.StatusCode.NOT_FOUND, "SKU_NOT_FOUND")
    assert off_sale[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "SKU_NOT_SOLD")
    assert malformed == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ID", ["sku_id"])
    assert await _count(database, cart_lines) == before


async def test_me_is_always_the_callers_own_cart_and_a_guest_cart_opens_only_with_its_id(
    stub: Stub, products: Products, category: str
) -> None:
    # Given buyer A's cart and a guest's cart, each with a line
    product = await new_product(products, category)
    buyer_a, buyer_b = as_user(), as_user()
    await stub.AddCartLine(
        pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=1), metadata=buyer_a
    )
    guest_id = await new_guest_cart(stub)
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id=guest_id, sku_id=product.skus[1].id, quantity=4))

    # Then buyer B's `me` is B's own, empty cart
    mine_a = (await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer_a)).cart
    mine_b = (await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer_b)).cart
    assert (len(lines(mine_a)), len(lines(mine_b))) == (1, 0)
    assert mine_a.id != mine_b.id
    # A's cart id is not a way in for anyone; the guest cart opens with its id, for anyone holding it
    by_a_id = await failure(stub.GetCart(pb.GetCartRequest(cart_id=mine_a.id), metadata=buyer_b))
    assert by_a_id[:2] == (grpc.StatusCode.NOT_FOUND, "CART_NOT_FOUND")
    held = (await stub.GetCart(pb.GetCartRequest(cart_id=guest_id), metadata=buyer_b)).cart
    assert [line.quantity for line in lines(held).values()] == [4]
    # A wrong, malformed or anonymous `me` cart id is answered plainly, never a 500
    wrong = await failure(
        stub.GetCart(pb.GetCartRequest(cart_id=guest_id[:-1] + ("A" if guest_id[-1] != "A" else "B")))
    )
    malformed = await failure(stub.GetCart(pb.GetCartRequest(cart_id="../../etc")))
    anonymous = await failure(stub.GetCart(pb.GetCartRequest(cart_id="me")))
    assert wrong[:2] == malformed[:2] == (grpc.StatusCode.NOT_FOUND, "CART_NOT_FOUND")
    assert anonymous[:2] == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")


async def test_a_guest_cart_merges_into_the_buyers_once_summing_shared_skus(
    stub: Stub, products: Products, category: str
) -> None:
    # Given a buyer with 2 of SKU a, and a guest cart with 3 of a and 1 of b
    product = await new_product(products, category, skus=2)
    a, b = (sku.id for sku in product.skus)
    buyer = as_user()
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id="me", sku_id=a, quantity=2), metadata=buyer)
    guest_id = await new_guest_cart(stub)
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id=guest_id, sku_id=a, quantity=3))
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id=guest_id, sku_id=b, quantity=1))

    # When the buyer signs in and merges the guest cart, twice
    merge = pb.MergeGuestCartRequest(guest_cart_id=guest_id)
    merged = (await stub.MergeGuestCart(merge, metadata=buyer)).cart
    again = (await stub.MergeGuestCart(merge, metadata=buyer)).cart

    # Then the buyer's cart has a: 5 and b: 1, the second merge changed nothing, the guest cart is gone
    assert {sku: line.quantity for sku, line in lines(merged).items()} == {a: 5, b: 1}
    assert {sku: line.quantity for sku, line in lines(again).items()} == {a: 5, b: 1}
    gone = await failure(stub.GetCart(pb.GetCartRequest(cart_id=guest_id)))
    assert gone[:2] == (grpc.StatusCode.NOT_FOUND, "CART_NOT_FOUND")
    anonymous = await failure(stub.MergeGuestCart(merge))
    assert anonymous[:2] == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")


async def test_a_merge_that_would_pass_100_lines_is_refused_whole(
    stub: Stub, products: Products, category: str
) -> None:
    product = await new_product(products, category, skus=101)
    buyer = as_user()
    for sku in product.skus[:99]:
        await stub.AddCartLine(pb.AddCartLineRequest(cart_id="me", sku_id=sku.id, quantity=1), metadata=buyer)
    guest_id = await new_guest_cart(stub)
    for sku in (product.skus[0], product.skus[99], product.skus[100]):
        await stub.AddCartLine(pb.AddCartLineRequest(cart_id=guest_id, sku_id=sku.id, quantity=2))

    refused = await failure(
        stub.MergeGuestCart(pb.MergeGuestCartRequest(guest_cart_id=guest_id), metadata=buyer)
    )

    assert refused[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "CART_FULL")
    mine = (await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer)).cart
    theirs = (await stub.GetCart(pb.GetCartRequest(cart_id=guest_id))).cart
    assert (len(lines(mine)), mine.total_quantity, len(lines(theirs))) == (99, 99, 3)


async def test_a_price_change_is_shown_until_the_buyer_acknowledges_it(
    stub: Stub, products: Products, category: str
) -> None:
    # Given a line added at 45,000
    product = await new_product(products, category, price=45_000)
    sku_id = product.skus[0].id
    cart_id = await new_guest_cart(stub)
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=sku_id, quantity=2))

    # When the seller raises the price to 50,000
    await reprice(products, product, sku_id, 50_000)

    # Then the cart charges the new price and says it went up from the one the buyer saw
    cart = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart
    line = lines(cart)[sku_id]
    (notice,) = line.notices
    assert notice.kind == pb.CART_LINE_NOTICE_KIND_PRICE_UP
    assert (notice.previous_unit_price.amount, notice.unit_price.amount) == (45_000, 50_000)
    assert (line.unit_price.amount, line.seen_unit_price.amount, cart.selected_total.amount) == (
        50_000,
        45_000,
        100_000,
    )

    # And once acknowledged, the notice is gone, now and on the next read
    acknowledged = (await stub.AcknowledgeCartChanges(pb.AcknowledgeCartChangesRequest(cart_id=cart_id))).cart
    read = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart
    for shown in (acknowledged, read):
        assert list(lines(shown)[sku_id].notices) == []
        assert lines(shown)[sku_id].seen_unit_price.amount == 50_000


async def test_a_line_below_a_wholesale_tier_is_told_how_many_to_buy_for_its_price(
    stub: Stub, products: Products, category: str
) -> None:
    # Given a SKU at 45,000 that costs 40,000 each from 10 units, and a line of 3 of it
    product = await new_product(products, category, price=45_000)
    sku_id = product.skus[0].id
    await set_tiers(products, sku_id, [(10, 40_000)])
    cart_id = await new_guest_cart(stub)
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=sku_id, quantity=3))

    # When the buyer reads the cart
    cart = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart

    # Then the line, still purchasable at 45,000, says that 10 or more cost 40,000 each
    line = lines(cart)[sku_id]
    (notice,) = line.notices
    assert notice.kind == pb.CART_LINE_NOTICE_KIND_NEXT_TIER
    assert (notice.quantity, notice.previous_unit_price.amount, notice.unit_price.amount) == (
        10,
        45_000,
        40_000,
    )
    assert notice.message == "Buy 10 or more for Rp 40.000 each."
    assert (line.purchasable, line.unit_price.amount, cart.selected_total.amount) == (True, 45_000, 135_000)

    # And once the line is raised to 10, it is priced at the tier with nothing more to tell
    update = pb.UpdateCartLineRequest(cart_id=cart_id, sku_id=sku_id, quantity=10)
    raised = lines((await stub.UpdateCartLine(update)).cart)[sku_id]
    assert list(raised.notices) == []
    assert (raised.unit_price.amount, raised.price_source, raised.line_total.amount) == (
        40_000,
        "tier",
        400_000,
    )


async def test_an_archived_product_stays_in_the_cart_unavailable_and_out_of_the_totals(
    stub: Stub, products: Products, category: str
) -> None:
    kept, gone = await new_product(products, category, price=10_000), await new_product(products, category)
    cart_id = await new_guest_cart(stub)
    for product in (kept, gone):
        await stub.AddCartLine(pb.AddCartLineRequest(cart_id=cart_id, sku_id=product.skus[0].id, quantity=1))

    await archive(products, gone)

    cart = (await stub.GetCart(pb.GetCartRequest(cart_id=cart_id))).cart
    unavailable = lines(cart)[gone.skus[0].id]
    assert [n.kind for n in unavailable.notices] == [pb.CART_LINE_NOTICE_KIND_UNAVAILABLE]
    assert (unavailable.purchasable, unavailable.HasField("unit_price")) == (False, False)
    assert (cart.selected_quantity, cart.selected_total.amount, cart.total_quantity) == (1, 10_000, 2)


async def test_lines_are_changed_selected_by_shop_and_removed(
    stub: Stub, products: Products, category: str
) -> None:
    one, other = (
        await new_product(products, category, price=10_000),
        await new_product(products, category, price=20_000),
    )
    buyer = as_user()
    for product in (one, other):
        await stub.AddCartLine(
            pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=1), metadata=buyer
        )

    update = pb.UpdateCartLineRequest(cart_id="me", sku_id=one.skus[0].id, quantity=3, note="kado")
    changed = (await stub.UpdateCartLine(update, metadata=buyer)).cart
    unselect = pb.SelectCartLinesRequest(cart_id="me", selected=False, shop_id=other.shop_id)
    selected = (await stub.SelectCartLines(unselect, metadata=buyer)).cart
    remove = pb.RemoveCartLineRequest(cart_id="me", sku_id=one.skus[0].id)
    removed = (await stub.RemoveCartLine(remove, metadata=buyer)).cart

    assert (lines(changed)[one.skus[0].id].quantity, lines(changed)[one.skus[0].id].note) == (3, "kado")
    assert (selected.selected_total.amount, lines(selected)[other.skus[0].id].selected) == (30_000, False)
    assert list(lines(removed)) == [other.skus[0].id]
    missing = await failure(
        stub.UpdateCartLine(
            pb.UpdateCartLineRequest(cart_id="me", sku_id=one.skus[0].id, quantity=1), metadata=buyer
        )
    )
    assert missing[:2] == (grpc.StatusCode.NOT_FOUND, "LINE_NOT_FOUND")


async def test_concurrent_adds_of_one_sku_to_one_cart_sum_exactly(
    stub: Stub, products: Products, category: str
) -> None:
    # Given a buyer whose cart does not exist yet
    product = await new_product(products, category)
    buyer = as_user()
    add = pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=3)

    # When 20 adds of 3 units race, the first of them creating the cart
    await asyncio.gather(*(stub.AddCartLine(add, metadata=buyer) for _ in range(20)))

    # Then the one line holds exactly 60 units
    cart = (await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer)).cart
    assert [line.quantity for line in lines(cart).values()] == [60]


async def test_the_cart_keeps_a_hash_of_a_guest_carts_id_never_the_id(stub: Stub, database: Database) -> None:
    cart_id = await new_guest_cart(stub)

    async with database.sessions() as session:
        stored = (
            await session.execute(select(carts.c.guest_token_hash).where(carts.c.buyer_id.is_(None)))
        ).scalars()
        hashes = list(stored)
    assert hashlib.sha256(cart_id.encode()).digest() in hashes
    assert all(cart_id.encode() not in value for value in hashes)


async def _count(database: Database, table: object) -> int:
    async with database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]
