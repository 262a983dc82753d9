"""What product reads show a storefront: each SKU's current price and its source, a running flash
sale, the lowest 30-day price and availability, kept right in the read cache as they change."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from product_testkit import (
    ADMIN,
    as_seller,
    new_product_request,
    new_shop,
    product_settings,
    publish_inventory_event,
)
from sqlalchemy import func, select

from toko.common.v1.money_pb2 import Money as MoneyProto
from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import events_pb2 as inventory_events
from toko.platform.auth import Principal
from toko.platform.cache import create_valkey
from toko.platform.db import Database, open_service_database
from toko.platform.schema import outbox
from toko.product.v1 import pricing_pb2 as ppb
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc
from toko.services.product.bootstrap import MIGRATIONS, product_cache
from toko.services.product.domain.catalog import (
    Condition,
    Dimensions,
    Money,
    ProductSpec,
    ProductStatus,
    SkuSpec,
)
from toko.services.product.domain.pricing import Window
from toko.services.product.handlers import Catalog, schedules
from toko.services.product.handlers import catalog as handlers
from toko.services.product.handlers.boundaries import apply_due_boundaries
from toko.services.product.settings import ProductSettings

Stub = product_pb2_grpc.ProductServiceStub
ADMIN_PRINCIPAL = Principal(subject="admin", roles=frozenset({"admin"}))
ANONYMOUS = Principal(subject="")


@pytest.fixture(scope="module")
def settings(infrastructure: InfraEndpoints) -> ProductSettings:
    """A fresh database, and a scheduler that looks often so windows open promptly in tests."""
    return product_settings(
        infrastructure, f"storefront_{uuid.uuid4().hex[:8]}", price_scheduler_interval_seconds=0.2
    )


def stamp(value: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(value)
    return result


async def until(read: Callable[[], Awaitable[pb.Product]], holds: Callable[[pb.Product], bool]) -> pb.Product:
    """The first product ``read`` gives for which ``holds``, within ten seconds."""
    deadline = time.monotonic() + 10
    while not holds(product := await read()):
        assert time.monotonic() < deadline, "the product read did not change"
        await asyncio.sleep(0.05)
    return product


# --- a scheduled window, with a clock the test moves --------------------------------------------------------


class MovableClock:
    """A clock that stands still until the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
async def clocked(infrastructure: InfraEndpoints) -> AsyncIterator[tuple[Catalog, MovableClock]]:
    """The use cases on a database of their own, with a movable clock and the real cache; no consumers run."""
    settings = product_settings(infrastructure, f"storefront_clock_{uuid.uuid4().hex[:8]}")
    database = await open_service_database(settings, MIGRATIONS)
    valkey = create_valkey(settings.redis_url)
    clock = MovableClock(datetime.now(UTC))
    yield Catalog(database=database, cache=product_cache(settings, valkey), clock=clock), clock
    await valkey.aclose()
    await database.dispose()


async def test_a_scheduled_window_opening_and_closing_changes_what_a_cached_product_read_shows(
    clocked: tuple[Catalog, MovableClock],
) -> None:
    catalog, clock = clocked
    category = await handlers.create_category(
        catalog=catalog, command=handlers.CreateCategory(parent_id="", name="Kopi"), principal=ADMIN_PRINCIPAL
    )
    spec = ProductSpec(
        category_id=category.id,
        title="Kopi Gayo Arabika 250g",
        slug="",
        description="",
        condition=Condition.NEW,
        status=ProductStatus.ACTIVE,
        attributes=(),
        image_urls=(),
        weight_grams=250,
        dimensions=Dimensions(),
        options=(),
        skus=(SkuSpec("GAYO-250", {}, Money(85_000)),),
    )
    product = await handlers.create_product(
        catalog=catalog, command=handlers.CreateProduct(new_shop(), spec), principal=ADMIN_PRINCIPAL
    )
    start = clock.now + timedelta(hours=1)
    await schedules.create_price_schedule(
        catalog=catalog,
        sku_id=product.skus[0].id,
        price=79_000,
        currency="IDR",
        window=Window(start, start + timedelta(hours=2)),
        principal=ADMIN_PRINCIPAL,
    )

    async def read() -> pb.Sku:
        return (await handlers.get_product(catalog=catalog, product_id=product.id, principal=ANONYMOUS)).skus[
            0
        ]

    before = await read()  # cached from here on
    clock.now = start
    opened = await apply_due_boundaries(catalog=catalog)
    during = await read()
    clock.now = start + timedelta(hours=2)
    closed = await apply_due_boundaries(catalog=catalog)
    after = await read()

    assert (before.current_price.amount, before.current_price_source) == (85_000, ppb.PRICE_SOURCE_BASE)
    assert (opened, closed) == (1, 1)
    assert (during.current_price.amount, during.current_price_source) == (79_000, ppb.PRICE_SOURCE_SCHEDULE)
    assert during.lowest_price_30d.amount == 85_000
    assert during.price.amount == 85_000  # the base price stays the seller's
    assert not during.HasField("flash_sale")
    assert (after.current_price.amount, after.current_price_source) == (85_000, ppb.PRICE_SOURCE_BASE)
    assert after.lowest_price_30d.amount == 79_000


# --- through the service, with its scheduler and consumers --------------------------------------------------


async def test_a_running_flash_sale_shows_its_price_against_the_base_and_when_it_ends(
    stub: Stub, category: pb.Category
) -> None:
    shop = new_shop()
    product = (await stub.CreateProduct(new_product_request(shop, category.id), metadata=ADMIN)).product
    sku = product.skus[0]
    start = datetime.now(UTC) + timedelta(seconds=1)
    end = start + timedelta(hours=1)
    campaign = (
        await stub.CreateCampaign(
            ppb.CreateCampaignRequest(name="Flash Sale Gajian", start_time=stamp(start), end_time=stamp(end)),
            metadata=ADMIN,
        )
    ).campaign

    async def read() -> pb.Product:
        return (await stub.GetProduct(pb.GetProductRequest(id=product.id))).product

    before = await read()  # cached from here on
    await stub.AddCampaignSkus(
        ppb.AddCampaignSkusRequest(
            campaign_id=campaign.id,
            skus=[
                ppb.CampaignSku(
                    sku_id=sku.id,
                    campaign_price=MoneyProto(amount=29_000, currency="IDR"),
                    quota=50,
                    per_buyer_limit=2,
                )
            ],
        ),
        metadata=as_seller(shop),
    )
    during = await until(read, lambda p: p.skus[0].current_price.amount == 29_000)
    listed = (await stub.ListProducts(pb.ListProductsRequest(shop_id=shop))).products[0]
    quoted = (
        await stub.QuotePrices(ppb.QuotePricesRequest(lines=[ppb.QuoteLine(sku_id=sku.id, quantity=1)]))
    ).lines[0]

    assert not before.skus[0].HasField("flash_sale")
    on_sale = during.skus[0]
    assert on_sale.current_price_source == ppb.PRICE_SOURCE_CAMPAIGN
    assert (on_sale.current_price, on_sale.current_price_source) == (quoted.unit_price, quoted.source)
    sale = on_sale.flash_sale
    assert (sale.campaign_id, sale.name) == (campaign.id, "Flash Sale Gajian")
    assert (sale.campaign_price.amount, sale.base_price.amount, sale.discount_percent) == (29_000, 45_000, 35)
    assert sale.per_buyer_limit == 2
    assert sale.countdown.end_time.ToDatetime(tzinfo=UTC) == end
    assert 3_500 < sale.countdown.seconds_to_end <= 3_600
    assert sale.countdown.seconds_to_start == 0
    assert on_sale.lowest_price_30d.amount == 45_000
    assert [s.HasField("flash_sale") for s in during.skus] == [True, False, False, False]
    assert (listed.skus[0].current_price, listed.skus[0].flash_sale.campaign_id) == (
        quoted.unit_price,
        campaign.id,
    )


async def test_availability_follows_inventorys_events_and_is_unknown_until_reported(
    stub: Stub, category: pb.Category, settings: ProductSettings, database: Database
) -> None:
    shop = new_shop()
    product = (await stub.CreateProduct(new_product_request(shop, category.id), metadata=ADMIN)).product
    low, gone, unreported = (sku.id for sku in product.skus[:3])

    async def read() -> pb.Product:
        return (await stub.GetProduct(pb.GetProductRequest(id=product.id))).product

    def levels(p: pb.Product) -> list[int]:
        return [sku.availability.level for sku in p.skus]

    before = await read()  # cached from here on
    for sku_id, in_stock, bucket in ((low, True, "1-5"), (gone, False, "0")):
        await publish_inventory_event(
            settings.nats_url,
            inventory_events.StockAvailabilityChanged(
                sku_id=sku_id, shop_id=shop, in_stock=in_stock, quantity_bucket=bucket, version=3
            ),
        )
    reported = await until(read, lambda p: levels(p)[:2] == [pb.STOCK_LEVEL_LOW, pb.STOCK_LEVEL_OUT_OF_STOCK])
    # An older report arrives late, then a newer one.
    for version, bucket in ((2, "6-20"), (4, "21+")):
        await publish_inventory_event(
            settings.nats_url,
            inventory_events.StockAvailabilityChanged(
                sku_id=low, shop_id=shop, in_stock=True, quantity_bucket=bucket, version=version
            ),
        )
    restocked = await until(read, lambda p: p.skus[0].availability.level == pb.STOCK_LEVEL_IN_STOCK)
    async with database.sessions() as session:
        announced = (
            await session.execute(
                select(func.count())
                .select_from(outbox)
                .where(outbox.c.type == "toko.product.v1.SkuAvailabilityChanged", outbox.c.aggregate == low)
            )
        ).scalar_one()

    assert levels(before) == [pb.STOCK_LEVEL_UNKNOWN] * 4
    assert reported.skus[0].availability == pb.SkuAvailability(
        level=pb.STOCK_LEVEL_LOW, in_stock=True, quantity_bucket="1-5"
    )
    assert reported.skus[1].availability == pb.SkuAvailability(
        level=pb.STOCK_LEVEL_OUT_OF_STOCK, in_stock=False, quantity_bucket="0"
    )
    assert [sku.id for sku in reported.skus if sku.availability.level == pb.STOCK_LEVEL_UNKNOWN] == [
        unreported,
        product.skus[3].id,
    ]
    assert restocked.skus[0].availability.quantity_bucket == "21+"
    assert announced == 2  # version 3 and version 4; the late version 2 changed nothing
    views = (await stub.BatchGetSkus(pb.BatchGetSkusRequest(ids=[low, gone]))).skus
    assert [v.sku.availability.level for v in views] == [pb.STOCK_LEVEL_IN_STOCK, pb.STOCK_LEVEL_OUT_OF_STOCK]


async def test_a_listing_by_price_orders_and_filters_by_the_current_price_and_pages_without_gaps(
    stub: Stub, category: pb.Category
) -> None:
    # Given three products of a shop at base prices 30,000, 40,000 and 50,000 (L sizes 5,000 more) …
    shop = new_shop()
    made: list[pb.Product] = []
    for base in (30_000, 40_000, 50_000):
        request = new_product_request(shop, category.id, title=f"Sandal Jepit {base}")
        for sku in request.skus:
            sku.price.amount = base + (5_000 if sku.option_values["Ukuran"] == "L" else 0)
        made.append((await stub.CreateProduct(request, metadata=ADMIN)).product)
    plain, on_sale, scheduled = made
    now = datetime.now(UTC)
    # … the dearest at 20,000 for three seconds, the middle one in a flash sale at 25,000 for an hour.
    await stub.CreatePriceSchedule(
        ppb.CreatePriceScheduleRequest(
            sku_id=scheduled.skus[1].id,
            price=MoneyProto(amount=20_000, currency="IDR"),
            start_time=stamp(now),
            end_time=stamp(now + timedelta(seconds=3)),
        ),
        metadata=as_seller(shop),
    )
    campaign = (
        await stub.CreateCampaign(
            ppb.CreateCampaignRequest(
                name="Flash Sale Sandal", start_time=stamp(now), end_time=stamp(now + timedelta(hours=1))
            ),
            metadata=ADMIN,
        )
    ).campaign
    await stub.AddCampaignSkus(
        ppb.AddCampaignSkusRequest(
            campaign_id=campaign.id,
            skus=[
                ppb.CampaignSku(
                    sku_id=on_sale.skus[3].id,
                    campaign_price=MoneyProto(amount=25_000, currency="IDR"),
                    quota=10,
                    per_buyer_limit=1,
                )
            ],
        ),
        metadata=as_seller(shop),
    )

    async def listed(order_by: str, **filters: int) -> list[pb.Product]:
        request = pb.ListProductsRequest(shop_id=shop, page_size=1, order_by=order_by, **filters)
        found: list[pb.Product] = []
        while True:
            page = await stub.ListProducts(request)
            found.extend(page.products)
            if not page.next_page_token:
                return found
            request.page_token = page.next_page_token

    cheapest = await listed("price")
    dearest = await listed("price desc")
    under_26k = await listed("price", max_price=26_000)
    # When the schedule's window closes, the scheduler puts the dearest back in its place.
    deadline = time.monotonic() + 10
    after = await listed("price")
    while [p.id for p in after] != [on_sale.id, plain.id, scheduled.id]:
        assert time.monotonic() < deadline, "the listing did not follow the schedule's end"
        await asyncio.sleep(0.05)
        after = await listed("price")

    assert [p.id for p in cheapest] == [scheduled.id, on_sale.id, plain.id]
    assert [p.current_min_price.amount for p in cheapest] == [20_000, 25_000, 30_000]
    assert [p.min_price.amount for p in cheapest] == [50_000, 40_000, 30_000]  # the base prices
    assert [p.id for p in dearest] == [plain.id, on_sale.id, scheduled.id]
    assert [p.id for p in under_26k] == [scheduled.id, on_sale.id]
    assert [p.current_min_price.amount for p in after] == [25_000, 30_000, 50_000]
    assert [p.current_max_price.amount for p in after] == [45_000, 35_000, 55_000]
