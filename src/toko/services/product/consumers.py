"""Event handlers of the product service (run by ``toko.platform.consumer.EventConsumer``).

The service consumes its own ProductUpdated and ProductArchived events to drop
the changed product from the cache. The write handlers already invalidate right
after commit; this consumer makes a missed invalidation (Valkey briefly down, a
crash between commit and invalidation, a reader storing a value read just
before the commit) converge, because a failed invalidation raises and JetStream
redelivers the event.
"""

from __future__ import annotations

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.cache import ReadThroughCache
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.product.v1 import events_pb2
from toko.services.product.handlers import SOURCE, product_cache_key

CACHE_INVALIDATION_CONSUMER = "product-cache-invalidation"
CACHE_INVALIDATION_SUBJECTS = (
    event_subject(SOURCE, events_pb2.ProductUpdated.DESCRIPTOR.name),
    event_subject(SOURCE, events_pb2.ProductArchived.DESCRIPTOR.name),
)


class CacheInvalidation:
    """Drops a product from the cache when an event says it changed."""

    def __init__(self, cache: ReadThroughCache) -> None:
        self._cache = cache

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Invalidate the product the event is about; raising (Valkey down) makes JetStream redeliver."""
        if isinstance(payload, events_pb2.ProductUpdated):
            product_id = payload.product.id
        elif isinstance(payload, events_pb2.ProductArchived):
            product_id = payload.product_id
        else:
            return
        await self._cache.invalidate(product_cache_key(product_id))
