"""Event handlers of the user service (run by ``toko.platform.consumer.EventConsumer``).

A wishlist shows each product's title, price, cover image and availability, and
services do not call each other for that: ``ProductSummaries`` keeps a read model
of them (``ProductSummaryRepository``) fed by the product service's product and
price events and the inventory's availability events. Each write keeps the newest
fact only, so events arriving twice or out of order leave it as the latest says;
the consumers' inbox drops redeliveries before that.
"""

from __future__ import annotations

from datetime import UTC

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.inventory.v1 import events_pb2 as inventory_events
from toko.platform.clock import Clock, utcnow
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.product.v1 import events_pb2 as product_events
from toko.product.v1 import product_pb2
from toko.services.user.repository.product_summaries import (
    ListingStatus,
    Price,
    ProductFacts,
    ProductSummaryRepository,
)

PRODUCT_SOURCE = "product"
INVENTORY_SOURCE = "inventory"

CATALOG_CONSUMER = "user-product-summaries"
CATALOG_SUBJECTS = tuple(
    event_subject(PRODUCT_SOURCE, message.DESCRIPTOR.name)
    for message in (
        product_events.ProductCreated,
        product_events.ProductUpdated,
        product_events.ProductArchived,
        product_events.PriceChanged,
    )
)
STOCK_CONSUMER = "user-stock-availability"
STOCK_SUBJECTS = (event_subject(INVENTORY_SOURCE, inventory_events.StockAvailabilityChanged.DESCRIPTOR.name),)

# An unspecified status is taken for a draft: nothing shows a product on sale that the catalog did not say is.
_LISTING_STATUS = {
    product_pb2.PRODUCT_STATUS_ACTIVE: ListingStatus.ACTIVE,
    product_pb2.PRODUCT_STATUS_ARCHIVED: ListingStatus.ARCHIVED,
}


def product_facts(product: product_pb2.Product) -> ProductFacts:
    """What a product event's product says for its summary."""
    return ProductFacts(
        product_id=product.id,
        shop_id=product.shop_id,
        title=product.title,
        image_url=product.image_urls[0] if product.image_urls else "",
        status=_LISTING_STATUS.get(product.status, ListingStatus.DRAFT),
        base_prices={sku.id: Price(sku.price.amount, sku.price.currency) for sku in product.skus},
        version=product.version,
    )


class ProductSummaries:
    """Keeps the product summaries the wishlist shows in step with the catalog and the stock."""

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self._clock = clock

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Record what the event says of a product or a SKU; raising makes JetStream redeliver it."""
        summaries = ProductSummaryRepository(uow.session)
        if isinstance(payload, product_events.ProductCreated | product_events.ProductUpdated):
            await summaries.record_product(product_facts(payload.product), self._clock())
        elif isinstance(payload, product_events.ProductArchived):
            await summaries.archive_product(payload.product_id, payload.shop_id, self._clock())
        elif isinstance(payload, product_events.PriceChanged):
            await summaries.record_price(
                payload.sku_id,
                Price(payload.new_price.amount, payload.new_price.currency),
                changed_at=payload.time.ToDatetime(UTC),
                change_id=payload.change_id,
            )
        elif isinstance(payload, inventory_events.StockAvailabilityChanged):
            await summaries.record_availability(
                payload.sku_id, in_stock=payload.in_stock, version=payload.version
            )
