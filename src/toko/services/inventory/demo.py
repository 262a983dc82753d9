"""``make up``'s demo marketplace in the inventory: a warehouse per demo shop and opening stock.

Only wired when ``settings.demo_stock`` is on (``make up`` sets ``TOKO_INVENTORY_DEMO_STOCK``;
production leaves it off). The seed (``toko.services.inventory.seed``) creates each demo shop's
warehouse in its city with a fixed id; ``DemoOpeningStock`` gives every SKU of the product
service's demo seed 20 to 200 units there (decided by the SKU id, the same on every run), as a
``receipt`` ledger row, when the catalog consumer first sees it. The seed's SKUs are known by
their ids (``toko.platform.demo.demo_sku_id``); a SKU a seller adds to a demo shop later starts
with no stock, as in any shop, so it can be made perishable and received in lots.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence

from sqlalchemy.dialects.postgresql import insert

from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.demo import SHOPS, DemoShop, demo_sku_id
from toko.services.inventory.consumers import NewSku
from toko.services.inventory.domain import MovementKind, WarehouseKind
from toko.services.inventory.handlers.common import move_stock
from toko.services.inventory.repository.stock import Movement, StockRepository
from toko.services.inventory.repository.tables import warehouses

DEMO_ACTOR = Principal(subject="inventory-demo-seed", roles=frozenset({"admin"}))
DEMO_REFERENCE = "demo-opening-stock"
# Never change: it keys every demo warehouse's id.
_WAREHOUSE_NAMESPACE = uuid.UUID("3a0e6f5c-1b7d-5e2a-8c4f-9d0b1e2f3a4b")


def demo_warehouse_id(shop_id: str) -> str:
    """The id of a demo shop's warehouse, the same on every run."""
    return str(uuid.uuid5(_WAREHOUSE_NAMESPACE, shop_id))


def demo_initial_stock(sku_id: str) -> int:
    """The demo seed's opening stock of a SKU: 20 to 200 units, the same for the same SKU every time."""
    digest = hashlib.blake2s(sku_id.encode(), digest_size=4).digest()
    return 20 + int.from_bytes(digest, "big") % 181


async def ensure_demo_warehouse(uow: UnitOfWork, shop: DemoShop) -> str:
    """Create the demo shop's warehouse in its city unless it exists; returns its id."""
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


class DemoOpeningStock:
    """Opening stock for the demo seed's SKUs, in their demo shop's warehouse."""

    def __init__(self) -> None:
        self._shops = {shop.id: shop for shop in SHOPS}

    async def __call__(self, uow: UnitOfWork, *, shop_id: str, skus: Sequence[NewSku]) -> None:
        """Receive the opening stock of those of ``skus`` the demo seed created."""
        shop = self._shops.get(shop_id)
        seeded = [sku.id for sku in skus if sku.id == demo_sku_id(shop_id, sku.code)]
        if shop is None or not seeded:
            return
        warehouse_id = await ensure_demo_warehouse(uow, shop)
        stock = StockRepository(uow.session)
        movements = []
        for sku_id in seeded:
            line = await stock.ensure_stock_line(sku_id=sku_id, warehouse_id=warehouse_id, shop_id=shop.id)
            movements.append(
                Movement(
                    line.id, MovementKind.RECEIPT, demo_initial_stock(sku_id), 0, reference=DEMO_REFERENCE
                )
            )
        await move_stock(uow, movements, DEMO_ACTOR)
