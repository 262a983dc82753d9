"""A placed checkout takes what it bought off the buyer's cart (the order service's CheckoutPlaced),
through the real cart service and its JetStream consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from cart_testkit import Products, Stub, as_user, lines, new_product

from toko.cart.v1 import cart_pb2 as pb
from toko.infra.servers import InfraEndpoints
from toko.order.v1 import events_pb2 as order_events
from toko.order.v1 import order_pb2
from toko.platform.events import PendingEvent
from toko.platform.ids import new_id
from toko.platform.outbox import ensure_streams


@pytest.fixture(scope="module")
async def jetstream(infrastructure: InfraEndpoints) -> AsyncIterator[nats.js.JetStreamContext]:
    """JetStream, to publish as the order service would."""
    connection = await nats.connect(infrastructure.nats_url)
    js = connection.jetstream()
    await ensure_streams(js, ["order"])
    yield js
    await connection.drain()


def _placed(
    buyer_id: str, bought: dict[tuple[str, str], int], *, from_cart: bool = True
) -> order_events.CheckoutPlaced:
    shops: dict[str, order_pb2.ShopQuote] = {}
    for (shop_id, sku_id), quantity in bought.items():
        shop = shops.setdefault(shop_id, order_pb2.ShopQuote(shop_id=shop_id))
        shop.lines.append(order_pb2.PricedLine(sku_id=sku_id, shop_id=shop_id, quantity=quantity))
    checkout = order_pb2.Checkout(
        id=new_id(), buyer_id=buyer_id, quote=order_pb2.CheckoutQuote(shops=list(shops.values()))
    )
    return order_events.CheckoutPlaced(checkout=checkout, cart_id="me" if from_cart else "")


async def _publish(js: nats.js.JetStreamContext, event: PendingEvent) -> None:
    # A fresh NATS message id each time: a redelivery past JetStream's deduplication window.
    await js.publish(
        event.nats_subject, event.envelope().SerializeToString(), headers={"Nats-Msg-Id": uuid.uuid4().hex}
    )


async def _cart_when(stub: Stub, buyer: tuple[tuple[str, str], ...], expected: dict[str, int]) -> pb.Cart:
    for _ in range(100):
        cart = (await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer)).cart
        if {sku: line.quantity for sku, line in lines(cart).items()} == expected:
            return cart
        await asyncio.sleep(0.05)
    raise AssertionError(f"the cart never held {expected}: {lines(cart)}")


async def test_a_placed_checkout_takes_its_lines_off_the_buyers_cart_once(
    stub: Stub, products: Products, category: str, jetstream: nats.js.JetStreamContext
) -> None:
    # Given a buyer's cart with 2 of a mug, 3 of a kettle and 1 of a lamp
    buyer_id = new_id()
    buyer = as_user(buyer_id)
    mug, kettle, lamp = [await new_product(products, category) for _ in range(3)]
    for product, quantity in ((mug, 2), (kettle, 3), (lamp, 1)):
        request = pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=quantity)
        await stub.AddCartLine(request, metadata=buyer)

    # When a checkout of both mugs and one kettle is placed, and its event arrives twice
    placed = _placed(buyer_id, {(mug.shop_id, mug.skus[0].id): 2, (kettle.shop_id, kettle.skus[0].id): 1})
    event = PendingEvent(source="order", subject=placed.checkout.id, message=placed)
    await _publish(jetstream, event)
    await _publish(jetstream, event)

    # Then the mug line is gone, two kettles and the lamp are left, and the second delivery changed nothing
    expected = {kettle.skus[0].id: 2, lamp.skus[0].id: 1}
    await _cart_when(stub, buyer, expected)
    await asyncio.sleep(0.3)
    await _cart_when(stub, buyer, expected)


async def test_another_buyers_checkout_leaves_a_cart_alone(
    stub: Stub, products: Products, category: str, jetstream: nats.js.JetStreamContext
) -> None:
    buyer_id, other_id = new_id(), new_id()
    product = await new_product(products, category)
    sku_id = product.skus[0].id
    await stub.AddCartLine(
        pb.AddCartLineRequest(cart_id="me", sku_id=sku_id, quantity=1), metadata=as_user(buyer_id)
    )

    placed = _placed(other_id, {(product.shop_id, sku_id): 1})
    await _publish(jetstream, PendingEvent(source="order", subject=placed.checkout.id, message=placed))
    marker = _placed(buyer_id, {})  # an empty checkout of the buyer, to know the first was handled
    await _publish(jetstream, PendingEvent(source="order", subject=marker.checkout.id, message=marker))
    await asyncio.sleep(0.5)

    await _cart_when(stub, as_user(buyer_id), {sku_id: 1})


async def test_a_buy_now_checkout_leaves_the_cart_alone_even_for_a_sku_in_it(
    stub: Stub, products: Products, category: str, jetstream: nats.js.JetStreamContext
) -> None:
    buyer_id = new_id()
    product = await new_product(products, category)
    sku_id = product.skus[0].id
    await stub.AddCartLine(
        pb.AddCartLineRequest(cart_id="me", sku_id=sku_id, quantity=2), metadata=as_user(buyer_id)
    )

    bought_now = _placed(buyer_id, {(product.shop_id, sku_id): 1}, from_cart=False)
    await _publish(
        jetstream, PendingEvent(source="order", subject=bought_now.checkout.id, message=bought_now)
    )
    marker = _placed(buyer_id, {})  # a later checkout from the cart, to know the first was handled
    await _publish(jetstream, PendingEvent(source="order", subject=marker.checkout.id, message=marker))
    await asyncio.sleep(0.5)

    await _cart_when(stub, as_user(buyer_id), {sku_id: 2})
