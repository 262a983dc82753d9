"""The whole platform, started the way `make up` starts it (`toko up`), once per test session."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from toko.infra.netcheck import free_port
from toko.infra.testing import every_port_variable

STARTUP_SECONDS = 180.0


@dataclass
class Platform:
    """A running `toko up`: its gateway URL, data directory and output so far."""

    base_url: str
    data_dir: Path
    process: subprocess.Popen[str]
    admin_token: str
    credentials: dict[str, Any]
    output: list[str] = field(default_factory=list)
    # The environment `toko up` runs with: another `toko` command given it reaches this platform.
    env: dict[str, str] = field(default_factory=dict)

    def account(self, role: str, index: int = 0) -> dict[str, Any]:
        """A seeded demo account (email, password, user_id, shop_id for sellers)."""
        return [a for a in self.credentials["accounts"] if a["role"] == role][index]

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=15.0, **kwargs)  # type: ignore[arg-type]

    def mail_to(self, address: str, count: int = 1, seconds: float = 30.0) -> list[dict[str, Any]]:
        """The messages the sandbox's mailbox holds for ``address``, newest first, once ``count`` arrived."""
        url = f"http://127.0.0.1:{self.env['TOKO_SANDBOX_PORT']}/mailbox/api/messages"
        deadline = time.monotonic() + seconds
        while True:
            messages: list[dict[str, Any]] = httpx.get(url, params={"to": address}, timeout=5).json()[
                "messages"
            ]
            if len(messages) >= count or time.monotonic() > deadline:
                return messages
            time.sleep(0.2)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def scripts_token(self, scope: str) -> str:
        """A token of the seeded scripts client (an admin) for ``scope``."""
        return client_credentials_token(self.base_url, self.credentials["clients"]["toko-scripts"], scope)


def client_credentials_token(
    base_url: str, client: dict[str, Any], scope: str = "catalog.write admin"
) -> str:
    """An admin token for the seeded scripts client, through the gateway's /oauth2/token."""
    response = httpx.post(
        f"{base_url}/oauth2/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client["client_id"], client["client_secret"]),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def _pump(process: subprocess.Popen[str], lines: list[str], ready: threading.Event) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("toko is up"):
            ready.set()
    ready.set()


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    # Under /var/tmp, whose parents everyone may traverse, so PostgreSQL's data stays inside it even as root.
    data_dir = Path(
        tempfile.mkdtemp(prefix="toko-e2e-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None)
    )
    data_dir.chmod(0o755)
    # Every port of every server and service moves, so a developer's own `make up` can keep running.
    ports = {variable: free_port() for variable in every_port_variable()}
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKO_")}
    env |= {variable: str(port) for variable, port in ports.items()}
    env |= {"TOKO_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"}
    # One machine sends everything from 127.0.0.1: raise the per-IP limits so the suite measures
    # behaviour, not the limiter (which has its own tests against Valkey).
    generous = json.dumps({"limit": 1_000_000, "window": 60})
    env |= {f"TOKO_GATEWAY_RATE_LIMIT_{kind}": generous for kind in ("API_IP", "API_CLIENT", "SIGN_IN_IP")}
    # A checkout whose order process died is driven on once its lease passes: seconds, not the default 30.
    env["TOKO_ORDER_PLACING_LEASE_SECONDS"] = "3"
    # Failpoints the crash tests arm (toko.platform.failpoints): inert until a test puts a file there.
    env["TOKO_FAILPOINTS_DIR"] = str(data_dir / "failpoints")
    # The crash tests kill one service many times in a row: restarts capped at 2 s, not 30.
    env["TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS"] = "2"
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "toko"), "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()
    threading.Thread(target=_pump, args=(process, lines, ready), daemon=True).start()
    if not ready.wait(STARTUP_SECONDS) or process.poll() is not None:
        process.kill()
        pytest.fail("toko up did not come up:\n" + "\n".join(lines[-60:]))
    base_url = f"http://127.0.0.1:{ports['TOKO_GATEWAY_PORT']}"
    credentials = json.loads((data_dir / "demo-credentials.json").read_text())
    platform = Platform(
        base_url=base_url,
        data_dir=data_dir,
        process=process,
        admin_token=client_credentials_token(base_url, credentials["clients"]["toko-scripts"]),
        credentials=credentials,
        output=lines,
        env=env,
    )
    try:
        yield platform
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        # TOKO_E2E_KEEP=1 keeps the data directory (each service's log under logs/) to read a failure.
        if os.environ.get("TOKO_E2E_KEEP") == "1":
            print(f"\ne2e platform kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
