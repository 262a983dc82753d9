"""The price scheduler: applies scheduled prices and flash-sale campaigns when their windows open and close.

Every replica of the product service runs one. Each round claims due boundaries
with ``FOR UPDATE SKIP LOCKED`` (``handlers.boundaries``), so replicas share the
work and each boundary is applied exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from toko.services.product.handlers import Catalog
from toko.services.product.handlers.boundaries import apply_due_boundaries

log = logging.getLogger(__name__)


class PriceScheduler:
    """A background worker applying due price boundaries every ``interval`` seconds."""

    def __init__(self, catalog: Catalog, *, interval: float = 1.0, batch_size: int = 100) -> None:
        self._catalog = catalog
        self.interval = interval
        self.batch_size = batch_size

    async def run(self, stop: asyncio.Event) -> None:
        """Apply due boundaries until ``stop`` is set; a full batch is followed at once by the next."""
        while not stop.is_set():
            applied = 0
            try:
                applied = await apply_due_boundaries(catalog=self._catalog, batch_size=self.batch_size)
            except Exception:
                log.warning("applying scheduled prices failed; retrying", exc_info=True)
            if applied < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
