"""Event handlers of the inventory service (run by ``toko.platform.consumer.EventConsumer``).

The inventory learns SKUs from the catalog's events instead of reading the
product database: ``ProductCreated`` and ``ProductUpdated`` record each SKU with
its shop (so stock can be checked against its owner), ``ProductArchived`` marks a
product's SKUs archived (they can no longer be reserved).

For ``make up``'s demo marketplace, a new SKU of a demo shop also gets opening
stock in that shop's demo warehouse (created on first need), 20 to 200 units
decided by the SKU id, as a ``receipt`` ledger row. SKUs of any other shop start
with no stock: their sellers receive it themselves. The consumer's inbox makes a
redelivered event harmless.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from datetime import UTC

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.inventory.v1 import events_pb2
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import UnitOfWork
from toko.platform.demo import SHOPS, DemoShop
from toko.platform.errors import DomainError
from toko.platform.events import event_subject
from toko.product.v1 import events_pb2 as product_events
from toko.services.inventory import domain
from toko.services.inventory.domain import MovementKind, WarehouseKind
from toko.services.inventory.handlers.common import move_stock
from toko.services.inventory.handlers.flash_sale import CreateAllocation, allocate_quota
from toko.services.inventory.repository.flash_sales import FlashSaleRepository
from toko.services.inventory.repository.skus import SkuRepository
from toko.services.inventory.repository.stock import Movement, StockRepository
from toko.services.inventory.repository.tables import warehouses

log = logging.getLogger(__name__)

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
DEMO_ACTOR = Principal(subject="inventory-demo-seed", roles=frozenset({"admin"}))
DEMO_REFERENCE = "demo-opening-stock"
# Never change: it keys every demo warehouse's id.
_WAREHOUSE_NAMESPACE = uuid.UUID("3a0e6f5c-1b7d-5e2a-8c4f-9d0b1e2f3a4b")


def demo_warehouse_id(shop_id: str) -> str:
    """The id of a demo shop's warehouse, the same on every run."""
    return str(uuid.uuid5(_WAREHOUSE_NAMESPACE, shop_id))


def demo_shops() -> Mapping[str, DemoShop]:
    """The demo shops by id."""
    return {shop.id: shop for shop in SHOPS}


async def ensure_demo_warehouse(uow: UnitOfWork, shop: DemoShop) -> str:
    """Create the demo shop's warehouse in its city unless it exists; returns its id."""
    from sqlalchemy.dialects.postgresql import insert

    warehouse_id = demo_warehouse_id(shop.id)
    await uow.session.execute(
        insert(warehouses)
        .values(
            id=warehouse_id,
            shop_id=shop.id,
            name=f"Gudang {shop.name}",
            address=f"Jl. Raya {shop.city} No. 1",
            city=shop.city,
            kind=WarehouseKind.SHOP.value,
        )
        .on_conflict_do_nothing()
    )
    return warehouse_id


class CatalogFollower:
    """Keeps the inventory's view of SKUs in step with the catalog, and stocks the demo shops."""

    def __init__(self, *, demo_stock: bool) -> None:
        self._demo_stock = demo_stock
        self._demo_shops = demo_shops()

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
        shop = self._demo_shops.get(product.shop_id)
        new_skus = [sku.id for sku in product.skus if sku.id not in known]
        if not (self._demo_stock and shop is not None and new_skus):
            return
        warehouse_id = await ensure_demo_warehouse(uow, shop)
        movements = []
        for sku_id in new_skus:
            line = await StockRepository(uow.session).ensure_stock_line(
                sku_id=sku_id, warehouse_id=warehouse_id, shop_id=shop.id
            )
            movements.append(
                Movement(
                    line.id,
                    MovementKind.RECEIPT,
                    domain.demo_initial_stock(sku_id),
                    0,
                    reference=DEMO_REFERENCE,
                )
            )
        await move_stock(uow, movements, DEMO_ACTOR)


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
