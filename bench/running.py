"""The platform under benchmark: ``toko up`` in a child process, on a throwaway data directory and free ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from toko.infra.netcheck import free_port
from toko.infra.servers import InfraConfig
from toko.infra.services import configured_services

BIN = Path(sys.executable).parent


class RunningPlatform:
    """``toko up`` in a child process on a throwaway data directory (with ``bench``, ``toko up --bench``).

    Given the ``data_dir`` an earlier one kept (``stop(keep_data=True)``), it is a warm start: servers
    initialised, databases migrated and the demo seeded already.
    """

    def __init__(
        self, *, bench: bool = True, data_dir: Path | None = None, ports: dict[str, int] | None = None
    ) -> None:
        if data_dir is None:
            data_dir = Path(
                tempfile.mkdtemp(prefix="toko-bench-", dir="/var/tmp" if Path("/var/tmp").is_dir() else None)
            )
            data_dir.chmod(0o755)
        self.data_dir = data_dir
        # Every port of every server and service in the registry (GATEWAY, AUTH_HTTP, NATS_MONITOR…).
        claims = InfraConfig(self.data_dir).port_claims()
        claims += [claim for spec in configured_services({}, bench=True) for claim in spec.port_claims()]
        # A warm start keeps the first start's ports, as a restarted platform does: the demo's OAuth
        # clients were registered with the gateway's address of the first start.
        self.ports = ports or {
            c.variable.removeprefix("TOKO_").removesuffix("_PORT"): free_port() for c in claims
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOKO_")}
        env |= {f"TOKO_{name}_PORT": str(port) for name, port in self.ports.items()}
        # One load generator on one address: per-IP limits would measure the limiter. The limiter still
        # runs (its Valkey round trip is part of the measured path), with limits out of reach.
        generous = json.dumps({"limit": 1_000_000_000, "window": 60})
        env |= {
            f"TOKO_GATEWAY_RATE_LIMIT_{kind}": generous for kind in ("API_IP", "API_CLIENT", "SIGN_IN_IP")
        }
        env |= {"TOKO_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1", "TOKO_LOG_LEVEL": "WARNING"}
        self.lines: list[str] = []
        self.ready = threading.Event()
        self.up_after = float("nan")  # seconds from the spawn of `toko up` to its "toko is up"
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(BIN / "toko"), "up", *(["--bench"] if bench else [])],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("toko is up"):
                self.up_after = time.monotonic() - self.started
                self.ready.set()
        self.ready.set()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['GATEWAY']}"

    @property
    def auth_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['AUTH_HTTP']}"

    def credentials(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "demo-credentials.json").read_text()))

    def account(self, role: str) -> dict[str, Any]:
        return next(a for a in self.credentials()["accounts"] if a["role"] == role)

    def libpq_url(self, database: str) -> str:
        url = str(self.state()["endpoints"]["libpq_url"])
        head, _, query = url.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{database}" + (f"?{query}" if query else "")

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "run" / "state.json").read_text()))

    def wait(self, seconds: float = 300.0) -> float:
        """Wait for 'toko is up'; the seconds until every service was healthy."""
        if not self.ready.wait(seconds) or self.process.poll() is not None:
            raise SystemExit("toko up failed:\n" + "\n".join(self.lines[-40:]))
        healthy = [
            float(m.group(1)) for line in self.lines if (m := re.search(r"healthy after ([\d.]+)s", line))
        ]
        return max(healthy, default=float("nan"))

    def settle(self, seconds: float = 120.0) -> float:
        """Wait until every JetStream consumer has caught up (no events pending or unacknowledged).

        Background work (the demo seed's stock events at start, a benchmark's set-up) would otherwise
        compete for the cores with what is measured next. Returns the seconds waited.
        """
        url = f"http://127.0.0.1:{self.ports['NATS_MONITOR']}/jsz?consumers=true"
        started = time.monotonic()
        quiet_since: float | None = None
        while time.monotonic() - started < seconds:
            report = httpx.get(url, timeout=5).json()
            backlog = sum(
                consumer.get("num_pending", 0) + consumer.get("num_ack_pending", 0)
                for account in report.get("account_details", [])
                for stream in account.get("stream_detail", [])
                for consumer in stream.get("consumer_detail", [])
            )
            now = time.monotonic()
            if backlog:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = now
            elif now - quiet_since >= 1.0:
                return round(now - started, 1)
            time.sleep(0.25)
        raise SystemExit(f"the platform did not settle within {seconds:.0f} s")

    def memory(self) -> dict[str, dict[str, float]]:
        """Resident (RSS) and proportional (PSS) memory of every server and service, in MiB."""
        state = json.loads((self.data_dir / "run" / "state.json").read_text())
        usage: dict[str, dict[str, float]] = {}
        for entry in state["servers"] + state["services"]:
            if not entry.get("pid"):
                continue
            root = psutil.Process(entry["pid"])
            processes = [root, *root.children(recursive=True)]
            rss = pss = 0
            for process in processes:
                try:
                    info = process.memory_full_info()
                except psutil.Error:
                    continue
                rss += info.rss
                pss += getattr(info, "pss", info.rss)
            usage[entry["name"]] = {
                "rss_mib": round(rss / 2**20, 1),
                "pss_mib": round(pss / 2**20, 1),
                "processes": len(processes),
            }
        return usage

    def stop(self, *, keep_data: bool = False) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
