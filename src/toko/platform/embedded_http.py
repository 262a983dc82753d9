"""uvicorn inside a process that owns its event loop and its signals (the auth service, the sandbox, the
webhook endpoints of shipping and payment: ``EmbeddedListener``).

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
import socket
from collections.abc import Iterator
from typing import Any

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


class EmbeddedListener:
    """An ASGI app served by uvicorn in a service's own loop (a webhook endpoint), on a socket bound at
    once (port 0 works)."""

    def __init__(self, app: Any, *, host: str, port: int) -> None:
        self.sock = socket.create_server((host, port))
        self._server = EmbeddedServer(
            uvicorn.Config(app, lifespan="off", log_config=None, access_log=False, server_header=False)
        )

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.sock.getsockname()[1])

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set."""
        task = asyncio.create_task(self._server.serve(sockets=[self.sock]))
        await stop.wait()
        self._server.should_exit = True
        await task
        self.sock.close()
