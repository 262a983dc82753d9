"""Fixtures of the sandbox's integration tests: a real sandbox on free ports, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from sandbox_testkit import sandbox_settings

from toko.sandbox.app import RunningSandbox, start_sandbox
from toko.sandbox.settings import SandboxSettings


@pytest.fixture
def settings(tmp_path: Path) -> SandboxSettings:
    """Settings with a fresh data dir and a small message limit, so oversize mail is cheap to send."""
    return sandbox_settings(tmp_path, mail_max_message_bytes=64 * 1024)


@pytest.fixture
async def sandbox(settings: SandboxSettings) -> AsyncIterator[RunningSandbox]:
    """The sandbox, started as ``python -m toko.sandbox`` starts it."""
    running = await start_sandbox(settings)
    yield running
    await running.stop()


@pytest.fixture
async def web(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the sandbox's pages and JSON API."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.http_port}") as client:
        yield client
