"""Event handlers of the product service (run by ``toko.platform.consumer.EventConsumer``).

Stock signals: the inventory service's availability and sales events feed the
dynamic pricing rules (``StockSignals``); each re-evaluates the SKU's rules.

The service consumes its own ProductUpdated, ProductArchived, PriceChanged and
SkuAvailabilityChanged events to drop the changed product from the cache (a product
read shows its SKUs' current prices and availability). The write handlers and the
price scheduler already invalidate right after commit; this consumer makes a missed
invalidation (Valkey briefly down, a crash between commit and invalidation, a
reader storing a value read just before the commit) converge, and it is the only
one for changes without a handler of ours in between (a stock signal moving a
dynamic price or the availability), because a failed invalidation raises and the
consumer holds the event until Valkey is back.
"""

from __future__ import annotations

from datetime import UTC

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.inventory.v1 import events_pb2 as inventory_events
from toko.platform.cache import ReadThroughCache
from toko.platform.clock import utcnow
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.product.v1 import events_pb2
from toko.services.product.domain.storefront import Availability
from toko.services.product.handlers import SOURCE
from toko.services.product.handlers.common import product_cache_key
from toko.services.product.handlers.pricing import record_availability, record_sales

CACHE_INVALIDATION_CONSUMER = "product-cache-invalidation"
CACHE_INVALIDATION_SUBJECTS = (
    event_subject(SOURCE, events_pb2.ProductUpdated.DESCRIPTOR.name),
    event_subject(SOURCE, events_pb2.ProductArchived.DESCRIPTOR.name),
    event_subject(SOURCE, events_pb2.PriceChanged.DESCRIPTOR.name),
    event_subject(SOURCE, events_pb2.SkuAvailabilityChanged.DESCRIPTOR.name),
)


class CacheInvalidation:
    """Drops a product from the cache when an event says it changed."""

    def __init__(self, cache: ReadThroughCache) -> None:
        self._cache = cache

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Invalidate the product the event is about; with Valkey down the event is held until it is back."""
        if isinstance(payload, events_pb2.ProductUpdated):
            product_id = payload.product.id
        elif isinstance(payload, events_pb2.PriceChanged) and not payload.HasField("old_price"):
            # A SKU's first price commits with its product's creation (or the update adding it, which
            # raises ProductUpdated): no read before that commit could have cached the product with it.
            return
        elif isinstance(
            payload,
            events_pb2.ProductArchived | events_pb2.PriceChanged | events_pb2.SkuAvailabilityChanged,
        ):
            product_id = payload.product_id
        else:
            return
        await self._cache.invalidate(product_cache_key(product_id))


INVENTORY_SOURCE = "inventory"
STOCK_SIGNALS_CONSUMER = "product-stock-signals"
STOCK_SIGNALS_SUBJECTS = (
    event_subject(INVENTORY_SOURCE, inventory_events.StockAvailabilityChanged.DESCRIPTOR.name),
    event_subject(INVENTORY_SOURCE, inventory_events.ReservationCommitted.DESCRIPTOR.name),
)


class StockSignals:
    """Feeds inventory's availability and sales to the dynamic pricing rules."""

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Record the signal and re-evaluate the SKU's rules, in the consumer's unit of work."""
        at = envelope.time.ToDatetime(tzinfo=UTC)
        if isinstance(payload, inventory_events.StockAvailabilityChanged):
            await record_availability(
                uow=uow,
                sku_id=payload.sku_id,
                availability=Availability(payload.in_stock, payload.quantity_bucket),
                version=payload.version,
                now=utcnow(),
            )
        elif isinstance(payload, inventory_events.ReservationCommitted):
            sold: dict[str, int] = {}
            for line in payload.reservation.lines:
                sold[line.sku_id] = sold.get(line.sku_id, 0) + line.quantity
            await record_sales(uow=uow, sold=sold, day=at.date(), now=utcnow())
