"""uvicorn inside a process that owns its event loop and its signals (the auth service, the sandbox).

Two differences from ``uvicorn.Server``:

- it leaves SIGTERM and SIGINT alone: the process (``toko.platform.service``, the sandbox's main)
  owns them and stops its servers itself, by setting ``should_exit``;
- it wakes once a second, not ten times: uvicorn's main loop only refreshes the ``Date`` header
  (one-second resolution) and looks at ``should_exit`` on each tick, and ten ticks a second in every
  process that serves HTTP were a measurable share of an idle platform's CPU. Stopping takes up to a
  second longer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

TICK_SECONDS = 1.0
# uvicorn refreshes the Date header on ticks whose counter is a multiple of ten.
_TICKS_PER_DATE = 10
_COUNTER_WRAP = 864_000


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server for an app served beside other work in the same event loop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signals to the process."""
        yield

    async def main_loop(self) -> None:
        """Tick once a second until asked to exit."""
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + _TICKS_PER_DATE) % _COUNTER_WRAP
            await asyncio.sleep(TICK_SECONDS)
