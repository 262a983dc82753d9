"""Flash-sale allocations (a campaign's quota of a SKU), their durable claims and each buyer's total."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.inventory.repository.common import SessionRepository
from toko.services.inventory.repository.tables import (
    flash_sale_allocations,
    flash_sale_buyers,
    flash_sale_claims,
)


class FlashSaleRepository(SessionRepository):
    """The flash_sale_allocations, flash_sale_claims and flash_sale_buyers tables."""

    async def overlapping_allocation(self, *, sku_id: str, starts: datetime, ends: datetime) -> Any | None:
        """A flash-sale allocation of the SKU whose window overlaps [starts, ends), if any."""
        return (
            await self._session.execute(
                select(flash_sale_allocations.c.id, flash_sale_allocations.c.campaign_id)
                .where(
                    flash_sale_allocations.c.sku_id == sku_id,
                    and_(
                        flash_sale_allocations.c.starts_at < ends, flash_sale_allocations.c.ends_at > starts
                    ),
                )
                .limit(1)
            )
        ).first()

    async def add_allocation(self, values: dict[str, Any]) -> Any:
        """Insert a flash-sale allocation; returns its row."""
        return (
            await self._session.execute(
                flash_sale_allocations.insert().values(**values).returning(flash_sale_allocations)
            )
        ).one()

    async def allocation(self, campaign_id: str, sku_id: str) -> Any | None:
        """The allocation of a SKU in a campaign, if any."""
        return (
            await self._session.execute(
                select(flash_sale_allocations).where(
                    flash_sale_allocations.c.campaign_id == campaign_id,
                    flash_sale_allocations.c.sku_id == sku_id,
                )
            )
        ).first()

    async def live_allocations(
        self, now: datetime, *, after: str | None = None, limit: int | None = None
    ) -> list[Any]:
        """Allocations whose window has not ended, in id order after ``after`` (to reconcile counters)."""
        query = (
            select(flash_sale_allocations)
            .where(flash_sale_allocations.c.ends_at > now)
            .order_by(flash_sale_allocations.c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(flash_sale_allocations.c.id > after)
        return list(await self._session.execute(query))

    async def buyer_totals(self, allocation_id: str) -> dict[str, int]:
        """Units durably claimed by each buyer of an allocation."""
        result = await self._session.execute(
            select(flash_sale_buyers.c.buyer_id, flash_sale_buyers.c.quantity).where(
                flash_sale_buyers.c.allocation_id == allocation_id
            )
        )
        return {row.buyer_id: row.quantity for row in result}

    async def insert_claim(
        self, *, claim_id: str, allocation_id: str, buyer_id: str, quantity: int, claim_key: str
    ) -> bool:
        """Record a claim; False when one with this key exists (a retry)."""
        inserted = await self._session.execute(
            insert(flash_sale_claims)
            .values(
                id=claim_id,
                allocation_id=allocation_id,
                buyer_id=buyer_id,
                quantity=quantity,
                claim_key=claim_key,
            )
            .on_conflict_do_nothing(index_elements=["allocation_id", "claim_key"])
            .returning(flash_sale_claims.c.id)
        )
        return inserted.first() is not None

    async def claim_by_key(self, allocation_id: str, claim_key: str) -> Any | None:
        """The claim recorded under a key, if any."""
        return (
            await self._session.execute(
                select(flash_sale_claims).where(
                    flash_sale_claims.c.allocation_id == allocation_id,
                    flash_sale_claims.c.claim_key == claim_key,
                )
            )
        ).first()

    async def add_to_buyer_total(
        self, *, allocation_id: str, buyer_id: str, quantity: int, limit: int
    ) -> int | None:
        """The buyer's new total, or None when it would pass ``limit`` (nothing changes then)."""
        statement = insert(flash_sale_buyers).values(
            allocation_id=allocation_id, buyer_id=buyer_id, quantity=quantity
        )
        result = await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=["allocation_id", "buyer_id"],
                set_={"quantity": flash_sale_buyers.c.quantity + statement.excluded.quantity},
                where=flash_sale_buyers.c.quantity + statement.excluded.quantity <= limit,
            ).returning(flash_sale_buyers.c.quantity)
        )
        row = result.first()
        return None if row is None else int(row.quantity)

    async def add_claimed(self, allocation_id: str, quantity: int, now: datetime) -> int | None:
        """Units left after counting a claim, or None when the quota (or window) does not allow it."""
        result = await self._session.execute(
            update(flash_sale_allocations)
            .where(
                flash_sale_allocations.c.id == allocation_id,
                flash_sale_allocations.c.claimed + quantity <= flash_sale_allocations.c.quota,
                flash_sale_allocations.c.starts_at <= now,
                flash_sale_allocations.c.ends_at > now,
            )
            .values(claimed=flash_sale_allocations.c.claimed + quantity)
            .returning(flash_sale_allocations.c.quota - flash_sale_allocations.c.claimed)
        )
        row = result.first()
        return None if row is None else int(row[0])
