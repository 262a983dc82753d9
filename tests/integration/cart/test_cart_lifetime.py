"""How long carts live: through a restart of the cart service, until a guest cart expires, and what a
cart answers while the product service that prices it is out of reach."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from cart_testkit import Products, Stub, as_user, cart_settings, failure, lines, new_guest_cart, new_product
from sqlalchemy import func, select

from toko.cart.v1 import cart_pb2 as pb
from toko.cart.v1 import cart_pb2_grpc
from toko.infra.netcheck import free_port
from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database
from toko.platform.service import RunningService, start_service
from toko.services.cart.bootstrap import bootstrap
from toko.services.cart.repository import carts
from toko.services.cart.settings import CartSettings

GUEST_TTL_SECONDS = 2


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints, product_service: RunningService) -> CartSettings:
    """Guest carts that expire after two seconds, and an expiry worker that looks every second when idle."""
    port = product_service.port
    return cart_settings(
        infrastructure,
        f"test_cart_lifetime_{uuid.uuid4().hex[:8]}",
        f"127.0.0.1:{port}",
        guest_cart_ttl_seconds=GUEST_TTL_SECONDS,
        expiry_idle_seconds=1.0,
    )


@asynccontextmanager
async def cart_service(settings: CartSettings) -> AsyncIterator[Stub]:
    """A cart service of its own (started and stopped by the test), and a client of it."""
    running = await start_service(await bootstrap(settings), settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield cart_pb2_grpc.CartServiceStub(channel)
    finally:
        await running.stop(1.0)


async def test_a_buyers_cart_survives_a_restart_of_the_cart_service(
    settings: CartSettings, products: Products, category: str
) -> None:
    # Given a buyer's cart with a line, written by one cart process
    product = await new_product(products, category, price=12_500)
    buyer = as_user()
    async with cart_service(settings) as first:
        add = pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=4, note="kado")
        await first.AddCartLine(add, metadata=buyer)

    # When the process is gone and a new one starts
    async with cart_service(settings) as second:
        cart = (await second.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer)).cart

    # Then the cart is as it was
    (line,) = lines(cart).values()
    assert (line.quantity, line.note, line.unit_price.amount, cart.selected_total.amount) == (
        4,
        "kado",
        12_500,
        50_000,
    )


async def test_a_guest_cart_is_gone_once_it_expires_and_its_rows_are_deleted(
    stub: Stub, products: Products, category: str, database: Database
) -> None:
    # Given a guest cart with a line, and a buyer's cart (which never expires)
    product = await new_product(products, category)
    guest_id = await new_guest_cart(stub)
    await stub.AddCartLine(pb.AddCartLineRequest(cart_id=guest_id, sku_id=product.skus[0].id, quantity=1))
    buyer = as_user()
    await stub.AddCartLine(
        pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=1), metadata=buyer
    )

    # When its time passes with no change, the expiry worker deletes it
    async def guest_carts() -> int:
        async with database.sessions() as session:
            query = select(func.count()).select_from(carts).where(carts.c.buyer_id.is_(None))
            return int((await session.execute(query)).scalar_one())

    deadline = time.monotonic() + GUEST_TTL_SECONDS + 10
    while await guest_carts():
        assert time.monotonic() < deadline, "expired guest carts were not deleted"
        await asyncio.sleep(0.1)

    # Then the guest cart is not found, like one that never existed, and the buyer's is untouched
    gone = await failure(stub.GetCart(pb.GetCartRequest(cart_id=guest_id)))
    assert gone[:2] == (grpc.StatusCode.NOT_FOUND, "CART_NOT_FOUND")
    mine = (await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer)).cart
    assert mine.total_quantity == 1


async def test_a_cart_cannot_be_read_or_filled_while_the_product_service_is_out_of_reach(
    settings: CartSettings, stub: Stub, products: Products, category: str
) -> None:
    # Given a buyer's cart with a line
    product = await new_product(products, category)
    buyer = as_user()
    await stub.AddCartLine(
        pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[0].id, quantity=1), metadata=buyer
    )

    # When the cart service cannot reach the product service
    cut_off = settings.model_copy(update={"product_service_address": f"127.0.0.1:{free_port()}"})
    async with cart_service(cut_off) as blind:
        read = await failure(blind.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer))
        add = await failure(
            blind.AddCartLine(
                pb.AddCartLineRequest(cart_id="me", sku_id=product.skus[1].id, quantity=1), metadata=buyer
            )
        )
        empty = (await blind.GetCart(pb.GetCartRequest(cart_id="me"), metadata=as_user())).cart

    # Then it says so (retryable), shows no unconfirmed price and writes nothing; an empty cart needs no prices
    assert read[:2] == add[:2] == (grpc.StatusCode.UNAVAILABLE, "PRICING_UNAVAILABLE")
    assert list(lines((await stub.GetCart(pb.GetCartRequest(cart_id="me"), metadata=buyer)).cart)) == [
        product.skus[0].id
    ]
    assert empty.total_quantity == 0
