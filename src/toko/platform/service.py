"""Running a service process: start, serve until SIGTERM/SIGINT, stop gracefully.

A service's ``bootstrap`` builds a ``ServiceApp`` (its servicers, background
workers such as the outbox relay and event consumers, and what to close on the
way out); ``run`` does the rest the same way for every service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import uvloop
from opentelemetry.trace import Tracer

from toko.platform.auth import NOTHING_REVOKED, Authenticator, RevocationList, jwt_authenticator
from toko.platform.grpc import GrpcServer, GrpcService, start_server, stop_signal
from toko.platform.logging import configure_logging
from toko.platform.revocation import RevokedTokens
from toko.platform.runtime import settle_heap
from toko.platform.settings import ServiceSettings
from toko.platform.telemetry import configure_tracing
from toko.platform.workers import BackgroundWorker

log = logging.getLogger("toko.service")

__all__ = ["BackgroundWorker", "RunningService", "ServiceApp", "run", "start_service"]

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)


@dataclass
class ServiceApp:
    """What a service runs: its gRPC services, background workers and clean-up steps."""

    name: str
    grpc_services: Sequence[GrpcService]
    workers: Sequence[BackgroundWorker] = field(default_factory=tuple)
    on_stop: Sequence[Callable[[], Awaitable[None]]] = field(default_factory=tuple)


def authenticator_for(settings: ServiceSettings, revoked: RevocationList = NOTHING_REVOKED) -> Authenticator:
    """The authenticator a service checks bearer tokens with: access tokens signed by the auth service,
    refusing those in ``revoked``."""
    return jwt_authenticator(
        issuer=settings.public_base_url,
        jwks_url=settings.auth_jwks_url,
        jwks=settings.auth_jwks,
        revoked=revoked,
    )


@dataclass
class RunningService:
    """A started service, as tests and ``run`` hold it."""

    app: ServiceApp
    server: GrpcServer
    stop_event: asyncio.Event
    tasks: list[asyncio.Task[None]]

    @property
    def port(self) -> int:
        """The gRPC port the service listens on."""
        return self.server.port

    async def stop(self, grace: float = 5.0) -> None:
        """Stop taking calls, finish those in flight, stop the workers, release resources."""
        self.stop_event.set()
        await self.server.stop(grace)
        if self.tasks:
            _, pending = await asyncio.wait(self.tasks, timeout=grace)
            for task in pending:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for close in self.app.on_stop:
            await close()


def _report_worker_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background worker stopped", exc_info=task.exception())


async def start_service(
    app: ServiceApp, settings: ServiceSettings, tracer: Tracer | None = None
) -> RunningService:
    """Start the gRPC server and the background workers of ``app``; ``tracer`` exports spans.

    Besides the app's workers, every service follows the auth service's revocations, so a revoked
    access token is refused here too, not only at the gateway (``toko.platform.revocation``).
    """
    revoked = RevokedTokens()
    server = await start_server(
        app.grpc_services,
        service_name=app.name,
        authenticator=authenticator_for(settings, revoked),
        host=settings.host,
        port=settings.port,
        tracer=tracer,
    )
    stop_event = asyncio.Event()
    tasks = [asyncio.create_task(worker(stop_event), name=f"{app.name}-worker") for worker in app.workers]
    tasks.append(
        asyncio.create_task(
            revoked.follow(settings.nats_url, stop_event, name=app.name), name=f"{app.name}-revocations"
        )
    )
    for task in tasks:
        task.add_done_callback(_report_worker_failure)
    log.info("serving", extra={"port": server.port})
    return RunningService(app=app, server=server, stop_event=stop_event, tasks=tasks)


def run(name: str, settings: SettingsT, bootstrap: Callable[[SettingsT], Awaitable[ServiceApp]]) -> None:
    """Run a service process until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = stop_signal()
        app = await bootstrap(settings)
        running = await start_service(app, settings, configure_tracing(app.name, settings))
        settle_heap()
        await stop.wait()
        log.info("stopping")
        await running.stop(settings.shutdown_grace_seconds)

    configure_logging(name, settings.log_level)
    uvloop.run(main())
