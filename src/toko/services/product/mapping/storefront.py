"""What a storefront shows of a SKU on the wire: its offer (current price, flash sale) and availability."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from toko.product.v1 import pricing_pb2 as ppb
from toko.product.v1 import product_pb2 as pb
from toko.services.product.domain.pricing import Window
from toko.services.product.domain.storefront import (
    Availability,
    FlashSale,
    SkuOffer,
    StockLevel,
    discount_percent,
)
from toko.services.product.mapping.common import money
from toko.services.product.mapping.pricing import PRICE_SOURCE_TO_PROTO, countdown

STOCK_LEVEL_TO_PROTO = {
    StockLevel.UNKNOWN: pb.STOCK_LEVEL_UNKNOWN,
    StockLevel.OUT_OF_STOCK: pb.STOCK_LEVEL_OUT_OF_STOCK,
    StockLevel.LOW: pb.STOCK_LEVEL_LOW,
    StockLevel.IN_STOCK: pb.STOCK_LEVEL_IN_STOCK,
}


def availability_to_proto(availability: Availability | None) -> pb.SkuAvailability:
    """Availability on the wire; level unknown for None (the inventory service has not reported)."""
    if availability is None:
        return pb.SkuAvailability(level=pb.STOCK_LEVEL_UNKNOWN)
    return pb.SkuAvailability(
        level=STOCK_LEVEL_TO_PROTO[availability.level],
        in_stock=availability.in_stock,
        quantity_bucket=availability.quantity_bucket,
    )


def flash_sale_to_proto(sale: FlashSale, base: int, currency: str, now: datetime) -> ppb.FlashSale:
    """A running flash sale on the wire, against the base price, its countdown as of ``now``."""
    return ppb.FlashSale(
        campaign_id=sale.campaign_id,
        name=sale.name,
        campaign_price=money(sale.price, currency),
        base_price=money(base, currency),
        discount_percent=discount_percent(base, sale.price),
        countdown=countdown(sale.window, now),
        per_buyer_limit=sale.per_buyer_limit,
    )


def offer_onto(sku: pb.Sku, offer: SkuOffer, now: datetime) -> None:
    """Set the SKU's offer fields (current price and source, 30-day low, flash sale, availability)."""
    currency = sku.price.currency
    sku.current_price.CopyFrom(money(offer.price, currency))
    sku.current_price_source = PRICE_SOURCE_TO_PROTO[offer.source]
    sku.lowest_price_30d.CopyFrom(money(offer.lowest_30d, currency))
    if offer.flash_sale is not None:
        sku.flash_sale.CopyFrom(flash_sale_to_proto(offer.flash_sale, offer.base, currency, now))
    sku.availability.CopyFrom(availability_to_proto(offer.availability))


def refresh_countdowns(skus: Iterable[pb.Sku], now: datetime) -> None:
    """Count the SKUs' flash sales down from ``now`` (a cached product keeps the seconds of its read)."""
    for sku in skus:
        if sku.HasField("flash_sale"):
            shown = sku.flash_sale.countdown
            window = Window(shown.start_time.ToDatetime(tzinfo=UTC), shown.end_time.ToDatetime(tzinfo=UTC))
            shown.CopyFrom(countdown(window, now))
