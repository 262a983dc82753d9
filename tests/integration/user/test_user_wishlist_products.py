"""Wishlist items show their product (title, price, cover image, availability) as the catalog's and the
inventory's events tell it, through the real service and its consumers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import nats
import pytest
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from user_testkit import metadata_of

from conftest import SignUp, Stub
from toko.common.v1.money_pb2 import Money
from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import events_pb2 as inventory_events
from toko.platform.events import PendingEvent
from toko.platform.ids import new_id
from toko.platform.outbox import ensure_streams
from toko.product.v1 import events_pb2 as product_events
from toko.product.v1 import product_pb2
from toko.user.v1 import user_pb2 as pb

Metadata = tuple[tuple[str, str], ...]
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
IN_STOCK = pb.PRODUCT_AVAILABILITY_IN_STOCK


class Upstream:
    """Publishes events as the product and inventory services would."""

    def __init__(self, js: nats.js.JetStreamContext) -> None:
        self._js = js

    async def publish(self, source: str, subject: str, message: Message) -> None:
        event = PendingEvent(source=source, subject=subject, message=message)
        await self._js.publish(
            event.nats_subject, event.envelope().SerializeToString(), headers={"Nats-Msg-Id": event.id}
        )

    async def product(self, product: product_pb2.Product, *, created: bool = False) -> None:
        message = (
            product_events.ProductCreated(product=product)
            if created
            else product_events.ProductUpdated(product=product, changed_fields=["title"])
        )
        await self.publish("product", product.id, message)

    async def price(self, product: product_pb2.Product, sku: int, amount: int, at: datetime) -> None:
        time = Timestamp()
        time.FromDatetime(at)
        change = product_events.PriceChanged(
            sku_id=product.skus[sku].id,
            product_id=product.id,
            shop_id=product.shop_id,
            new_price=Money(amount=amount, currency="IDR"),
            time=time,
            change_id=new_id(),
        )
        await self.publish("product", change.sku_id, change)

    async def archived(self, product: product_pb2.Product) -> None:
        archived = product_events.ProductArchived(product_id=product.id, shop_id=product.shop_id)
        await self.publish("product", product.id, archived)

    async def stock(self, product: product_pb2.Product, sku: int, *, in_stock: bool, version: int) -> None:
        sku_id = product.skus[sku].id
        changed = inventory_events.StockAvailabilityChanged(
            sku_id=sku_id,
            shop_id=product.shop_id,
            in_stock=in_stock,
            quantity_bucket="1-5" if in_stock else "0",
            version=version,
        )
        await self.publish("inventory", sku_id, changed)


@pytest.fixture(scope="module")
async def upstream(infrastructure: InfraEndpoints) -> AsyncIterator[Upstream]:
    """A publisher of the product and inventory services' events."""
    connection = await nats.connect(infrastructure.nats_url)
    js = connection.jetstream()
    await ensure_streams(js, ["product", "inventory"])
    yield Upstream(js)
    await connection.drain()


def kebaya(*prices: int, version: int = 1, title: str = "Kebaya Encim Bordir") -> product_pb2.Product:
    """An active product with one SKU per price."""
    return product_pb2.Product(
        id=new_id(),
        shop_id=new_id(),
        title=title,
        status=product_pb2.PRODUCT_STATUS_ACTIVE,
        image_urls=["https://img.toko.test/kebaya-depan.jpg", "https://img.toko.test/kebaya-belakang.jpg"],
        skus=[
            product_pb2.Sku(id=new_id(), code=f"KB-{i}", price=Money(amount=price, currency="IDR"))
            for i, price in enumerate(prices)
        ],
        version=version,
    )


def with_changes(product: product_pb2.Product, *, version: int, title: str = "") -> product_pb2.Product:
    """The product as another version of it says, with another title if given."""
    changed = product_pb2.Product()
    changed.CopyFrom(product)
    changed.version = version
    changed.title = title or product.title
    return changed


async def wishlist(stub: Stub, me: Metadata) -> dict[str, pb.WishlistItem]:
    items = (await stub.ListWishlistItems(pb.ListWishlistItemsRequest(user_id="me"), metadata=me)).items
    return {item.product_id: item for item in items}


async def shown_when(
    stub: Stub, me: Metadata, product_id: str, ready: Callable[[pb.WishlistItem], bool]
) -> pb.WishlistItem:
    """The item once ``ready`` holds for it (the consumers apply events moments after they are published)."""
    async with asyncio.timeout(20):
        while True:
            item = (await wishlist(stub, me))[product_id]
            if ready(item):
                return item
            await asyncio.sleep(0.05)


async def wishlisted(stub: Stub, sign_up: SignUp, *product_ids: str) -> Metadata:
    """A new buyer's metadata, with the products on their wishlist."""
    user, _ = await sign_up()
    me = metadata_of(user)
    for product_id in product_ids:
        await stub.AddWishlistItem(
            pb.AddWishlistItemRequest(user_id="me", product_id=product_id), metadata=me
        )
    return me


async def test_a_wishlisted_product_shows_its_new_price_once_it_changes(
    stub: Stub, sign_up: SignUp, upstream: Upstream
) -> None:
    product = kebaya(350_000)
    me = await wishlisted(stub, sign_up, product.id)
    unknown = (await wishlist(stub, me))[product.id]

    await upstream.product(product, created=True)
    await upstream.price(product, 0, 350_000, START)
    before = await shown_when(stub, me, product.id, lambda item: item.current_price.amount == 350_000)
    await upstream.price(product, 0, 315_000, START + timedelta(days=1))
    after = await shown_when(stub, me, product.id, lambda item: item.current_price.amount == 315_000)

    assert (unknown.title, unknown.HasField("current_price"), unknown.image_url) == ("", False, "")
    assert unknown.availability == pb.PRODUCT_AVAILABILITY_UNSPECIFIED
    assert before.title == "Kebaya Encim Bordir"
    assert before.image_url == "https://img.toko.test/kebaya-depan.jpg"
    assert after.current_price == Money(amount=315_000, currency="IDR")
    assert after.create_time == unknown.create_time


async def test_the_lowest_price_shows_and_a_price_change_outranks_the_base_price_whatever_the_order(
    stub: Stub, sign_up: SignUp, upstream: Upstream
) -> None:
    product = kebaya(400_000, 380_000)
    me = await wishlisted(stub, sign_up, product.id)

    # A campaign's price of the second SKU arrives before the product event carrying its base price.
    await upstream.price(product, 1, 299_000, START)
    await upstream.product(product, created=True)
    item = await shown_when(stub, me, product.id, lambda item: item.title != "")

    assert item.current_price == Money(amount=299_000, currency="IDR")


async def test_availability_follows_the_newest_stock_version_and_archiving_is_for_good(
    stub: Stub, sign_up: SignUp, upstream: Upstream
) -> None:
    product, marker = kebaya(250_000, 260_000), kebaya(1_000)
    me = await wishlisted(stub, sign_up, product.id, marker.id)
    await upstream.product(product, created=True)
    await upstream.product(marker, created=True)

    unstocked = await shown_when(stub, me, product.id, lambda item: item.title != "")
    await upstream.stock(product, 1, in_stock=True, version=1)
    stocked = await shown_when(stub, me, product.id, lambda item: item.availability == IN_STOCK)
    await upstream.stock(product, 1, in_stock=False, version=3)
    await upstream.stock(product, 1, in_stock=True, version=2)  # overtaken by version 3
    await upstream.stock(marker, 0, in_stock=True, version=1)
    await shown_when(stub, me, marker.id, lambda item: item.availability == IN_STOCK)
    sold_out = (await wishlist(stub, me))[product.id]
    await upstream.archived(product)
    await upstream.product(with_changes(product, version=9))  # raised before the archiving, arriving after
    await upstream.product(with_changes(marker, version=2, title="Selendang Batik"))
    await shown_when(stub, me, marker.id, lambda item: item.title == "Selendang Batik")
    archived = (await wishlist(stub, me))[product.id]

    assert unstocked.availability == pb.PRODUCT_AVAILABILITY_OUT_OF_STOCK
    assert stocked.availability == IN_STOCK
    assert sold_out.availability == pb.PRODUCT_AVAILABILITY_OUT_OF_STOCK
    assert (archived.availability, archived.title) == (
        pb.PRODUCT_AVAILABILITY_OFF_SALE,
        "Kebaya Encim Bordir",
    )


async def test_late_events_do_not_undo_newer_ones(stub: Stub, sign_up: SignUp, upstream: Upstream) -> None:
    newer = kebaya(500_000, version=3, title="Kebaya Kutubaru Sutra")
    older = with_changes(newer, version=2, title="Kebaya Kutubaru")
    marker = kebaya(1_000)
    me = await wishlisted(stub, sign_up, newer.id, marker.id)

    await upstream.product(newer, created=True)
    await upstream.price(newer, 0, 450_000, START + timedelta(hours=2))
    await upstream.product(older)
    await upstream.price(newer, 0, 480_000, START + timedelta(hours=1))
    await upstream.product(marker, created=True)
    await shown_when(stub, me, marker.id, lambda item: item.title != "")
    item = (await wishlist(stub, me))[newer.id]

    assert item.title == "Kebaya Kutubaru Sutra"
    assert item.current_price.amount == 450_000
