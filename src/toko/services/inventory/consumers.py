"""Event handlers of the inventory service (run by ``toko.platform.consumer.EventConsumer``).

The inventory learns SKUs from the catalog's events instead of reading the
product database: ``ProductCreated`` and ``ProductUpdated`` record each SKU with
its shop (so stock can be checked against its owner), ``ProductArchived`` marks a
product's SKUs archived (they can no longer be reserved).

For ``make up``'s demo marketplace (``settings.demo_stock``), new SKUs are handed to
``toko.services.inventory.demo``, which gives those of the demo seed opening stock. Every
other SKU starts with no stock: its seller receives it. The
consumer's inbox makes a redelivered event harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Protocol

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.inventory.v1 import events_pb2
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import UnitOfWork
from toko.platform.errors import DomainError
from toko.platform.events import event_subject
from toko.product.v1 import events_pb2 as product_events
from toko.services.inventory.handlers.flash_sale import CreateAllocation, allocate_quota
from toko.services.inventory.repository.flash_sales import FlashSaleRepository
from toko.services.inventory.repository.skus import SkuRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewSku:
    """A SKU the inventory sees for the first time."""

    id: str
    code: str


class OpeningStock(Protocol):
    """What gives new SKUs their first stock (the demo marketplace's ``DemoOpeningStock``)."""

    async def __call__(self, uow: UnitOfWork, *, shop_id: str, skus: Sequence[NewSku]) -> None:
        """Receive the opening stock due to any of ``skus`` of ``shop_id``, in the unit of work."""
        ...


CATALOG_CONSUMER = "inventory-catalog"
PRODUCT_SOURCE = "product"
CATALOG_SUBJECTS = tuple(
    event_subject(PRODUCT_SOURCE, message.DESCRIPTOR.name)
    for message in (
        product_events.ProductCreated,
        product_events.ProductUpdated,
        product_events.ProductArchived,
    )
)


class CatalogFollower:
    """Keeps the inventory's view of SKUs in step with the catalog (and, for ``make up``'s demo
    marketplace, hands new SKUs to ``opening_stock``)."""

    def __init__(self, *, opening_stock: OpeningStock | None = None) -> None:
        self._opening_stock = opening_stock

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Record the SKUs an event names; raising makes JetStream redeliver it."""
        repository = SkuRepository(uow.session)
        if isinstance(payload, product_events.ProductArchived):
            await repository.archive_product_skus(payload.product_id)
            return
        if not isinstance(payload, product_events.ProductCreated | product_events.ProductUpdated):
            return
        product = payload.product
        known = await repository.sku_facts([sku.id for sku in product.skus])
        for sku in product.skus:
            await repository.record_sku(sku_id=sku.id, shop_id=product.shop_id, product_id=product.id)
        new_skus = [NewSku(sku.id, sku.code) for sku in product.skus if sku.id not in known]
        if self._opening_stock is not None and new_skus:
            await self._opening_stock(uow, shop_id=product.shop_id, skus=new_skus)


CAMPAIGN_CONSUMER = "inventory-campaigns"
CAMPAIGN_SUBJECTS = (
    event_subject(PRODUCT_SOURCE, product_events.FlashSaleCampaignScheduled.DESCRIPTOR.name),
)
CAMPAIGN_ACTOR = Principal(subject="inventory-campaigns", roles=frozenset({"admin"}))


class CampaignQuotas:
    """Sets apart the quota of every SKU of a flash-sale campaign the product service scheduled.

    Each SKU goes through ``allocate_quota`` (the code of ``CreateFlashSaleAllocation``) from the shop's
    warehouse with the most available units, in a savepoint of its own: a SKU that cannot be allocated
    (quota above stock, unknown SKU, ...) is rolled back, logged and announced with
    ``FlashSaleAllocationRefused``, and the others still are. A SKU the campaign already holds is skipped,
    so a redelivery (also past the inbox) changes nothing.
    """

    def __init__(self, *, clock: Clock = utcnow) -> None:
        self._clock = clock

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Allocate the campaign's SKUs; through a database outage the event is held until it is back."""
        if not isinstance(payload, product_events.FlashSaleCampaignScheduled):
            return
        repository = FlashSaleRepository(uow.session)
        starts = payload.start_time.ToDatetime(UTC) if payload.HasField("start_time") else None
        ends = payload.end_time.ToDatetime(UTC) if payload.HasField("end_time") else None
        for sku in payload.skus:
            if await repository.allocation(payload.campaign_id, sku.sku_id) is not None:
                continue
            command = CreateAllocation(
                campaign_id=payload.campaign_id,
                sku_id=sku.sku_id,
                warehouse_id="",
                quantity=sku.quota,
                per_buyer_limit=sku.per_buyer_limit,
                starts=starts,
                ends=ends,
            )
            try:
                async with uow.session.begin_nested():
                    await allocate_quota(uow, command, CAMPAIGN_ACTOR, now=self._clock())
            except DomainError as exc:
                log.warning(
                    "campaign %s: quota of SKU %s refused: %s",
                    payload.campaign_id,
                    sku.sku_id,
                    exc,
                    extra={"reason": exc.reason, "campaign_id": payload.campaign_id, "sku_id": sku.sku_id},
                )
                uow.publish(
                    events_pb2.FlashSaleAllocationRefused(
                        campaign_id=payload.campaign_id, sku_id=sku.sku_id, reason=exc.reason
                    ),
                    subject=payload.campaign_id,
                )
