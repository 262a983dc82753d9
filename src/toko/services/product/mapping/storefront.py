"""What a storefront shows of a SKU on the wire: its offer (current price, flash sale) and availability."""

from __future__ import annotations

from toko.product.v1 import product_pb2 as pb
from toko.services.product.domain.storefront import Availability, StockLevel

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
