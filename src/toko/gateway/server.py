"""Serving the gateway with granian (ASGI, uvloop); granian handles SIGTERM/SIGINT with a graceful stop."""

from __future__ import annotations

from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from toko.gateway.app import Gateway, create_app
from toko.gateway.settings import GatewaySettings
from toko.platform.logging import configure_logging
from toko.platform.runtime import settle_heap


def app_factory() -> Gateway:
    """Build the app from the environment; granian calls it inside its worker process."""
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level)
    app = create_app(settings)
    settle_heap()
    return app


def serve(settings: GatewaySettings | None = None) -> None:
    """Run the gateway until SIGTERM or SIGINT, then drain requests and close the channels."""
    settings = settings or GatewaySettings()
    Granian(
        target="toko.gateway.server:app_factory",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        backlog=settings.listen_backlog,
        loop=Loops(settings.loop),
        http=HTTPModes.auto,
        log_access=False,
        workers_kill_timeout=int(settings.shutdown_grace_seconds) + 5,
    ).serve()
