"""The demo marketplace's warehouses: ``python -m toko.services.inventory.seed``.

Gives every demo shop (``toko.platform.demo``) a warehouse in its city, with a
fixed id, so a second run adds nothing. Opening stock is not written here: SKU
ids live in the product service, so the inventory's ``ProductCreated`` consumer
stocks each new SKU of a demo shop as its event arrives (and creates the
warehouse itself if this seed has not run yet). Shops outside the demo roster
start with no stock.

It connects with the service's own settings (``TOKO_DATABASE_URL``,
``TOKO_INVENTORY_DATABASE_NAME``…).
"""

from __future__ import annotations

import uvloop

from toko.platform.db import open_service_database
from toko.platform.demo import SHOPS
from toko.services.inventory.bootstrap import MIGRATIONS
from toko.services.inventory.demo import ensure_demo_warehouse
from toko.services.inventory.handlers import SOURCE
from toko.services.inventory.settings import InventorySettings


async def seed(settings: InventorySettings) -> int:
    """Create the demo shops' warehouses that are missing; returns how many demo shops there are."""
    database = await open_service_database(settings, MIGRATIONS)
    try:
        async with database.unit_of_work(SOURCE) as uow:
            for shop in SHOPS:
                await ensure_demo_warehouse(uow, shop)
            await uow.commit()
    finally:
        await database.dispose()
    return len(SHOPS)


def main() -> None:
    """Seed with the environment's settings."""
    shops = uvloop.run(seed(InventorySettings()))
    print(f"inventory: a warehouse for each of {shops} demo shops")


if __name__ == "__main__":
    main()
