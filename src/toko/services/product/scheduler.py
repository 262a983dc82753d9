"""The price scheduler: applies scheduled prices and flash-sale campaigns as their windows open and close.

Every replica of the product service runs one. Each round claims due boundaries
with ``FOR UPDATE SKIP LOCKED`` (``handlers.boundaries``), so replicas share the
work and each boundary is applied exactly once. Between rounds it sleeps until the
next boundary is due, for at most its idle interval; a use case that adds
boundaries wakes it (``Catalog.boundaries_added``) to look again.
"""

from __future__ import annotations

from toko.platform.workers import BackgroundWorker, batch_worker
from toko.services.product.handlers import Catalog
from toko.services.product.handlers.boundaries import apply_due_boundaries, seconds_to_next_boundary


def price_scheduler(
    catalog: Catalog, *, interval: float, idle_interval: float, batch_size: int = 100
) -> BackgroundWorker:
    """A worker applying due price boundaries, asleep until the next is due (at most ``idle_interval``)."""

    async def one_batch(size: int) -> int:
        return await apply_due_boundaries(catalog=catalog, batch_size=size)

    async def next_due() -> float | None:
        seconds = await seconds_to_next_boundary(catalog=catalog)
        if seconds is None or seconds > 0:
            return seconds
        # Due but left by this round: another replica has claimed it. Look again after ``interval``
        # rather than spin until that replica commits.
        return interval

    return batch_worker(
        one_batch,
        what="applying scheduled prices",
        batch_size=batch_size,
        interval=interval,
        idle_interval=idle_interval,
        next_due=next_due,
        wake=catalog.boundaries_added,
    )
