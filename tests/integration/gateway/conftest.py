"""Fixtures for the gateway tests: in-process gRPC fakes of the services, and the app in front of them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_fakes import ECHO, Upstream, settings_for, start_upstream

from toko.gateway import Gateway, create_app


@pytest.fixture(scope="session")
async def upstream() -> AsyncIterator[Upstream]:
    """Fake echo and product services with gRPC health, on a free port."""
    server, running = await start_upstream()
    yield running
    await server.stop(None)


@pytest.fixture(scope="session")
async def gateway(upstream: Upstream) -> AsyncIterator[Gateway]:
    """The gateway app in front of the fakes, with a short deadline for Echo."""
    app = create_app(settings_for(upstream.address, route_timeouts={f"{ECHO}.Echo": 0.3}))
    yield app
    await app.aclose()


@pytest.fixture
async def client(gateway: Gateway) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in process."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=gateway), base_url="http://gateway"
    ) as http:
        yield http
