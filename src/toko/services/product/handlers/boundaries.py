"""The price scheduler's use cases: apply the boundaries that are due, and tell when the next one is.

A boundary is an instant at which a schedule or campaign window opens or closes for
a SKU: its price changes without anyone touching its product, so applying one also
drops the product from the read cache. Boundaries are claimed with ``FOR UPDATE SKIP
LOCKED``, so every replica may run the scheduler (``toko.services.product.scheduler``)
and each is applied once.
"""

from __future__ import annotations

from toko.services.product.handlers.common import SOURCE, Catalog, forget_products
from toko.services.product.repository.pricing import PricingRepository
from toko.services.product.repricing import SYSTEM_ACTOR, Cause, reprice_each


async def apply_due_boundaries(*, catalog: Catalog, batch_size: int = 100) -> int:
    """Apply one batch of due schedule and campaign boundaries; returns how many were applied.

    The boundaries are claimed with ``FOR UPDATE SKIP LOCKED`` and marked applied in
    the same transaction as the price changes they cause, so each is applied exactly
    once however many workers race for it.
    """
    now = catalog.clock()
    async with catalog.database.unit_of_work(SOURCE) as uow:
        repository = PricingRepository(uow.session)
        due = await repository.claim_due_boundaries(now, batch_size)
        if not due:
            return 0
        # The latest boundary per SKU names the cause of that SKU's change.
        causes = {b.sku_id: Cause(b.kind, SYSTEM_ACTOR, b.ref_id) for b in due}
        # All the SKUs re-priced in one step, locked in id order like every other writer: one by one,
        # in due order, two workers with overlapping SKUs or products could each wait for the other.
        states = await reprice_each(uow, causes=causes, now=now)
        await repository.mark_applied([b.id for b in due], now)
        await uow.commit()
    # A window opened or closed: the cached products show their SKUs' prices as they were.
    await forget_products(catalog, sorted({state.product_id for state in states.values()}))
    return len(due)


async def seconds_to_next_boundary(*, catalog: Catalog) -> float | None:
    """Seconds until the earliest boundary not applied yet is due (negative when overdue), or None."""
    async with catalog.database.single_reads() as session:
        due = await PricingRepository(session).next_boundary_due()
    return None if due is None else (due - catalog.clock()).total_seconds()
