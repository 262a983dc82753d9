"""The inventory's view of SKUs, learnt from the catalog's events: their shop, and whether they sell on."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.inventory.repository.common import SessionRepository
from toko.services.inventory.repository.tables import skus, stock


class SkuRepository(SessionRepository):
    """The skus table: each SKU's shop, product, archived and perishable flags."""

    async def sku_facts(self, sku_ids: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """Shop and archived flag of each known SKU."""
        result = await self._session.execute(
            select(skus.c.id, skus.c.shop_id, skus.c.archived).where(skus.c.id.in_(sku_ids))
        )
        return {str(r.id): (str(r.shop_id), bool(r.archived)) for r in result}

    async def record_sku(self, *, sku_id: str, shop_id: str, product_id: str) -> None:
        """Learn a SKU from the catalog (its shop and product)."""
        await self._session.execute(
            insert(skus)
            .values(id=sku_id, shop_id=shop_id, product_id=product_id, archived=False, available=0, version=0)
            .on_conflict_do_update(index_elements=["id"], set_={"product_id": product_id})
        )

    async def archive_product_skus(self, product_id: str) -> None:
        """Mark every SKU of an archived product: it can no longer be reserved."""
        await self._session.execute(update(skus).where(skus.c.product_id == product_id).values(archived=True))

    async def is_perishable(self, sku_id: str) -> bool:
        """Whether a SKU's stock is kept in lots."""
        found = await self._session.scalar(select(skus.c.perishable).where(skus.c.id == sku_id))
        return bool(found)

    async def set_perishable(self, *, sku_id: str, shop_id: str, perishable: bool) -> int:
        """Mark a SKU (recorded when unknown) perishable or not; returns the units it holds, locked."""
        await self._session.execute(
            insert(skus)
            .values(id=sku_id, shop_id=shop_id, archived=False, available=0, version=0)
            .on_conflict_do_nothing()
        )
        await self._session.execute(select(skus.c.id).where(skus.c.id == sku_id).with_for_update())
        held = await self._session.scalar(
            select(func.coalesce(func.sum(stock.c.on_hand), 0)).where(stock.c.sku_id == sku_id)
        )
        await self._session.execute(update(skus).where(skus.c.id == sku_id).values(perishable=perishable))
        return int(held or 0)
