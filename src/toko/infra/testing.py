"""Pytest plugin: one set of real servers per test session (`pytest_plugins = ["toko.infra.testing"]`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import psutil
import pytest

from toko.infra.servers import InfraConfig, InfraEndpoints, Infrastructure
from toko.infra.services import configured_services


@pytest.fixture(scope="session")
def infrastructure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfraEndpoints]:
    """PostgreSQL, NATS JetStream and Valkey on a temporary data dir and free ports, for the whole session."""
    infra = Infrastructure(InfraConfig.for_tests(tmp_path_factory.mktemp("toko-infra")))
    endpoints = infra.start()
    try:
        yield endpoints
    finally:
        infra.stop()
        infra.discard_data()


def every_port_variable() -> list[str]:
    """TOKO_*_PORT of every server and every service `toko up` starts (what a test moves out of the way)."""
    claims = InfraConfig.from_env(Path("unused"), environ={}).port_claims()
    claims += [claim for spec in configured_services(environ={}) for claim in spec.port_claims()]
    return [claim.variable for claim in claims]


def wait_for(condition: Callable[[], object], seconds: float = 15.0, what: str = "condition") -> None:
    """Poll until `condition()` is truthy, failing the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)


def alive_pids(pids: Iterable[int]) -> list[int]:
    """The pids that still run (zombies count as gone)."""
    result = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                result.append(pid)
        except psutil.NoSuchProcess:
            continue
    return result


def processes_mentioning(text: str) -> list[psutil.Process]:
    """Live processes whose command line mentions `text` (a data dir, say)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if text in cmdline and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc)
    return found


async def wait_until(condition: Callable[[], object], seconds: float = 15.0, what: str = "condition") -> None:
    """`wait_for` for async tests: polls without blocking the event loop."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        await asyncio.sleep(0.05)
