"""What a storefront shows of a SKU now: its offer (current price, flash sale, 30-day low) and its stock.

Pure Python like ``catalog`` and ``pricing``. The offer is read, never resolved here: the
current price is the one ``pricing.resolve`` set for one unit when the SKU was last re-priced
(``repricing``), so a product read and a quote of one unit agree. Availability is what the
inventory service last reported: whether any unit can be reserved, and a quantity bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from toko.services.product.domain.pricing import PriceSource, Window

# The inventory service's quantity buckets ("0", "1-5", "6-20", "21+"), each by the least stock it means.
_BUCKET_FLOOR = {"0": 0, "1-5": 1, "6-20": 6, "21+": 21}
LOW_STOCK_BUCKET = "1-5"


class StockLevel(StrEnum):
    """How much of a SKU a buyer can get."""

    UNKNOWN = "unknown"
    OUT_OF_STOCK = "out_of_stock"
    LOW = "low"
    IN_STOCK = "in_stock"


@dataclass(frozen=True, slots=True)
class Availability:
    """A SKU's availability as the inventory service last reported it."""

    in_stock: bool
    quantity_bucket: str

    @property
    def level(self) -> StockLevel:
        """Out of stock, low (a few units left) or in stock."""
        if not self.in_stock:
            return StockLevel.OUT_OF_STOCK
        return StockLevel.LOW if self.quantity_bucket == LOW_STOCK_BUCKET else StockLevel.IN_STOCK

    @property
    def surely_available(self) -> int:
        """Units surely available: the least of the bucket (the signal the dynamic rules read)."""
        if not self.in_stock:
            return 0
        return max(_BUCKET_FLOOR.get(self.quantity_bucket, 1), 1)


@dataclass(frozen=True, slots=True)
class FlashSale:
    """The flash-sale campaign that sets a SKU's price now."""

    campaign_id: str
    name: str
    price: int
    window: Window
    per_buyer_limit: int


@dataclass(frozen=True)
class SkuOffer:
    """What one unit of a SKU costs now and why, its 30-day lowest price, and whether a buyer can get it.

    ``flash_sale`` is the campaign that set the price (when its source is CAMPAIGN);
    ``availability`` is None while the inventory service has not reported on the SKU.
    """

    sku_id: str
    base: int
    price: int
    source: PriceSource
    lowest_30d: int
    flash_sale: FlashSale | None = None
    availability: Availability | None = None


def discount_percent(base: int, price: int) -> int:
    """The whole percent ``price`` is below ``base``, rounded down; 0 when it is not below."""
    if base <= 0 or price >= base:
        return 0
    return (base - price) * 100 // base
