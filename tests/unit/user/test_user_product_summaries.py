"""What a wishlist item shows of its product: the facts taken from a product event, and its availability."""

from __future__ import annotations

from datetime import UTC, datetime

from toko.common.v1.money_pb2 import Money
from toko.product.v1 import product_pb2
from toko.services.user.consumers import product_facts
from toko.services.user.mapping import wishlist_item_to_proto
from toko.services.user.repository.product_summaries import ListingStatus, Price, ProductSummary
from toko.services.user.repository.wishlists import WishlistRow
from toko.user.v1 import user_pb2 as pb

ITEM = WishlistRow("0190a6c4-0000-7000-8000-000000000001", (), datetime(2026, 3, 1, tzinfo=UTC))


def summary(status: ListingStatus = ListingStatus.ACTIVE, *, in_stock: bool = True) -> ProductSummary:
    return ProductSummary(
        product_id=ITEM.product_id,
        title="Sambal Bawang Bu Rudy",
        image_url="https://img.toko.test/sambal.jpg",
        status=status,
        price=Price(45_000, "IDR"),
        in_stock=in_stock,
    )


def test_a_product_event_gives_the_cover_image_and_every_skus_base_price() -> None:
    product = product_pb2.Product(
        id="p",
        shop_id="s",
        title="Sambal Bawang",
        status=product_pb2.PRODUCT_STATUS_ACTIVE,
        image_urls=["cover.jpg", "side.jpg"],
        skus=[
            product_pb2.Sku(id="a", price=Money(amount=45_000, currency="IDR")),
            product_pb2.Sku(id="b", price=Money(amount=80_000, currency="IDR")),
        ],
        version=4,
    )

    facts = product_facts(product)

    assert (facts.title, facts.image_url, facts.status, facts.version) == (
        "Sambal Bawang",
        "cover.jpg",
        ListingStatus.ACTIVE,
        4,
    )
    assert facts.base_prices == {"a": Price(45_000, "IDR"), "b": Price(80_000, "IDR")}


def test_a_product_without_images_or_a_status_is_a_draft_without_a_cover() -> None:
    facts = product_facts(product_pb2.Product(id="p", shop_id="s", title="Sambal"))

    assert (facts.image_url, facts.status, facts.base_prices) == ("", ListingStatus.DRAFT, {})


def test_an_item_shows_its_products_summary() -> None:
    item = wishlist_item_to_proto(ITEM, summary())

    assert (item.title, item.image_url) == ("Sambal Bawang Bu Rudy", "https://img.toko.test/sambal.jpg")
    assert item.current_price == Money(amount=45_000, currency="IDR")
    assert item.availability == pb.PRODUCT_AVAILABILITY_IN_STOCK


def test_an_item_whose_product_is_unknown_shows_ids_only() -> None:
    item = wishlist_item_to_proto(ITEM, None)

    assert item == pb.WishlistItem(product_id=ITEM.product_id, create_time=item.create_time)
    assert item.availability == pb.PRODUCT_AVAILABILITY_UNSPECIFIED


def test_only_a_product_on_sale_with_stock_is_in_stock() -> None:
    shown = {
        (status, in_stock): wishlist_item_to_proto(ITEM, summary(status, in_stock=in_stock)).availability
        for status in ListingStatus
        for in_stock in (True, False)
    }

    assert shown == {
        (ListingStatus.ACTIVE, True): pb.PRODUCT_AVAILABILITY_IN_STOCK,
        (ListingStatus.ACTIVE, False): pb.PRODUCT_AVAILABILITY_OUT_OF_STOCK,
        (ListingStatus.DRAFT, True): pb.PRODUCT_AVAILABILITY_OFF_SALE,
        (ListingStatus.DRAFT, False): pb.PRODUCT_AVAILABILITY_OFF_SALE,
        (ListingStatus.ARCHIVED, True): pb.PRODUCT_AVAILABILITY_OFF_SALE,
        (ListingStatus.ARCHIVED, False): pb.PRODUCT_AVAILABILITY_OFF_SALE,
    }
