"""Flash-sale allocations (a campaign's quota of a SKU), their durable claims and each buyer's total."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.inventory.domain import ClaimStatus
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
        self,
        *,
        claim_id: str,
        allocation_id: str,
        buyer_id: str,
        quantity: int,
        claim_key: str,
        expires_at: datetime,
    ) -> bool:
        """Record a claim, held until ``expires_at``; False when one with this key exists (a retry)."""
        inserted = await self._session.execute(
            insert(flash_sale_claims)
            .values(
                id=claim_id,
                allocation_id=allocation_id,
                buyer_id=buyer_id,
                quantity=quantity,
                claim_key=claim_key,
                status=ClaimStatus.HELD.value,
                expires_at=expires_at,
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
                flash_sale_allocations.c.closed_at.is_(None),
            )
            .values(claimed=flash_sale_allocations.c.claimed + quantity)
            .returning(flash_sale_allocations.c.quota - flash_sale_allocations.c.claimed)
        )
        row = result.first()
        return None if row is None else int(row[0])

    # --- claims bought through checkout -------------------------------------------------------------------

    async def held_claims_of(self, buyer_id: str, now: datetime, *, limit: int) -> list[Any]:
        """The buyer's claims usable now (held, not lapsed, campaign running), first to lapse first."""
        query = (
            select(flash_sale_claims, flash_sale_allocations.c.campaign_id, flash_sale_allocations.c.sku_id)
            .join(flash_sale_allocations, flash_sale_allocations.c.id == flash_sale_claims.c.allocation_id)
            .where(
                flash_sale_claims.c.buyer_id == buyer_id,
                flash_sale_claims.c.status == ClaimStatus.HELD.value,
                flash_sale_claims.c.expires_at > now,
                flash_sale_allocations.c.ends_at > now,
                flash_sale_allocations.c.closed_at.is_(None),
            )
            .order_by(flash_sale_claims.c.expires_at, flash_sale_claims.c.id)
            .limit(limit)
        )
        return list(await self._session.execute(query))

    async def claims_for_reservation(self, claim_ids: Sequence[str]) -> dict[str, Any]:
        """These claims with their allocation's SKU, stock line and window, locked, by claim id."""
        if not claim_ids:
            return {}
        result = await self._session.execute(
            _claims_with_campaign(sorted(claim_ids))
            .order_by(flash_sale_claims.c.id)
            .with_for_update(of=flash_sale_claims)
        )
        return {str(row.id): row for row in result}

    async def use_claims(self, claim_ids: Sequence[str], reference: str) -> None:
        """Mark held claims used by the reservation ``reference``."""
        await self._session.execute(
            update(flash_sale_claims)
            .where(flash_sale_claims.c.id.in_(claim_ids))
            .values(status=ClaimStatus.USED.value, reservation_reference=reference)
        )

    async def lock_allocations(self, allocation_ids: Sequence[str]) -> dict[str, Any]:
        """These allocations, locked in id order (before any stock line: the order every writer keeps)."""
        if not allocation_ids:
            return {}
        result = await self._session.execute(
            select(flash_sale_allocations)
            .where(flash_sale_allocations.c.id.in_(sorted(set(allocation_ids))))
            .order_by(flash_sale_allocations.c.id)
            .with_for_update()
        )
        return {str(row.id): row for row in result}

    async def claims_by_id(self, claim_ids: Sequence[str]) -> list[Any]:
        """These claims with their allocation's campaign and SKU."""
        if not claim_ids:
            return []
        return list(await self._session.execute(_claims_with_campaign(claim_ids)))

    async def end_claims(
        self, claim_ids: Sequence[str], status: ClaimStatus, *, from_status: ClaimStatus
    ) -> list[Any]:
        """Move claims from ``from_status`` to ``status``; returns those moved."""
        if not claim_ids:
            return []
        result = await self._session.execute(
            update(flash_sale_claims)
            .where(flash_sale_claims.c.id.in_(claim_ids), flash_sale_claims.c.status == from_status.value)
            .values(status=status.value)
            .returning(flash_sale_claims)
        )
        return list(result)

    async def return_to_quota(self, allocation_id: str, buyer_id: str, quantity: int) -> None:
        """Take a claim's units off the allocation's claimed count and the buyer's total."""
        await self._session.execute(
            update(flash_sale_allocations)
            .where(flash_sale_allocations.c.id == allocation_id)
            .values(claimed=flash_sale_allocations.c.claimed - quantity)
        )
        # A total never stays at zero (its check wants a positive quantity): the row goes instead.
        await self._session.execute(
            update(flash_sale_buyers)
            .where(
                flash_sale_buyers.c.allocation_id == allocation_id,
                flash_sale_buyers.c.buyer_id == buyer_id,
                flash_sale_buyers.c.quantity > quantity,
            )
            .values(quantity=flash_sale_buyers.c.quantity - quantity)
        )
        await self._session.execute(
            delete(flash_sale_buyers).where(
                flash_sale_buyers.c.allocation_id == allocation_id,
                flash_sale_buyers.c.buyer_id == buyer_id,
                flash_sale_buyers.c.quantity <= quantity,
            )
        )

    async def lapsed_claim_allocations(self, now: datetime, limit: int) -> list[str]:
        """Allocations with held claims past their time, or ended and not closed yet."""
        lapsed = (
            select(flash_sale_claims.c.allocation_id.label("id"))
            .where(
                flash_sale_claims.c.status == ClaimStatus.HELD.value, flash_sale_claims.c.expires_at <= now
            )
            .limit(limit)
        )
        ended = (
            select(flash_sale_allocations.c.id)
            .where(flash_sale_allocations.c.ends_at <= now, flash_sale_allocations.c.closed_at.is_(None))
            .limit(limit)
        )
        result = await self._session.execute(lapsed.union(ended))
        return [str(row.id) for row in result][:limit]

    async def held_claims_due(self, allocation_id: str, now: datetime, *, all_held: bool) -> list[Any]:
        """An allocation's held claims past their time (every held one with ``all_held``)."""
        query = select(flash_sale_claims).where(
            flash_sale_claims.c.allocation_id == allocation_id,
            flash_sale_claims.c.status == ClaimStatus.HELD.value,
        )
        if not all_held:
            query = query.where(flash_sale_claims.c.expires_at <= now)
        return list(await self._session.execute(query))

    async def units_in_use(self, allocation_id: str) -> int:
        """Units of an allocation's claims used by reservations (held by them, or sold)."""
        used: int | None = await self._session.scalar(
            select(func.sum(flash_sale_claims.c.quantity)).where(
                flash_sale_claims.c.allocation_id == allocation_id,
                flash_sale_claims.c.status == ClaimStatus.USED.value,
            )
        )
        return int(used or 0)

    async def close_allocation(self, allocation_id: str, now: datetime) -> None:
        """Record that an ended allocation's unsold quota went back on sale."""
        await self._session.execute(
            update(flash_sale_allocations)
            .where(flash_sale_allocations.c.id == allocation_id)
            .values(closed_at=now)
        )


def _claims_with_campaign(claim_ids: Sequence[str]) -> Select[Any]:
    """These claims, each with its allocation's campaign, SKU, stock line, warehouse and window."""
    return (
        select(
            flash_sale_claims,
            flash_sale_allocations.c.campaign_id,
            flash_sale_allocations.c.sku_id,
            flash_sale_allocations.c.stock_id,
            flash_sale_allocations.c.warehouse_id,
            flash_sale_allocations.c.ends_at,
            flash_sale_allocations.c.closed_at,
        )
        .join(flash_sale_allocations, flash_sale_allocations.c.id == flash_sale_claims.c.allocation_id)
        .where(flash_sale_claims.c.id.in_(claim_ids))
    )
