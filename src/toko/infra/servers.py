"""Start (or only check) PostgreSQL, NATS JetStream and Valkey for one data directory."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

from toko.infra.errors import InfraError
from toko.infra.layout import DataLayout, default_data_dir
from toko.infra.lock import InstanceLock
from toko.infra.netcheck import free_port, nats_info, resp_ping
from toko.infra.ports import PortClaim, refuse_taken_ports
from toko.infra.postgres import EmbeddedPostgres, PostgresSettings, wheel_bin_dir
from toko.infra.state import ProcessEntry
from toko.infra.tcpservers import NatsServer, ValkeyServer

DATABASE_URL_ENV = "TOKO_DATABASE_URL"
NATS_URL_ENV = "TOKO_NATS_URL"
REDIS_URL_ENV = "TOKO_REDIS_URL"


@dataclass(frozen=True)
class InfraConfig:
    """What to start and where; a set `*_url` means "use this external server, start none"."""

    data_dir: Path
    nats_port: int = 14222
    nats_monitor_port: int = 18222
    valkey_port: int = 16379
    database_url: str | None = None
    nats_url: str | None = None
    redis_url: str | None = None
    postgres: PostgresSettings = field(default_factory=PostgresSettings)
    start_timeout: float = 30.0

    @classmethod
    def from_env(cls, data_dir: Path | None = None, environ: Mapping[str, str] | None = None) -> InfraConfig:
        """Defaults, overridden by TOKO_DATA_DIR, TOKO_*_URL and TOKO_{NATS,NATS_MONITOR,VALKEY}_PORT."""
        env = os.environ if environ is None else environ
        return cls(
            data_dir=(data_dir or default_data_dir(env)).resolve(),
            nats_port=int(env.get("TOKO_NATS_PORT", "14222")),
            nats_monitor_port=int(env.get("TOKO_NATS_MONITOR_PORT", "18222")),
            valkey_port=int(env.get("TOKO_VALKEY_PORT", "16379")),
            database_url=env.get(DATABASE_URL_ENV) or None,
            nats_url=env.get(NATS_URL_ENV) or None,
            redis_url=env.get(REDIS_URL_ENV) or None,
        )

    @classmethod
    def for_tests(cls, data_dir: Path) -> InfraConfig:
        """Embedded servers on free ports with fsync off: fast, throwaway, never a developer's servers."""
        return cls(
            data_dir=data_dir.resolve(),
            nats_port=0,
            nats_monitor_port=0,
            valkey_port=0,
            postgres=PostgresSettings(fsync=False, shared_buffers="32MB", max_connections=200),
        )

    def port_claims(self) -> list[PortClaim]:
        """The TCP ports of the embedded servers (PostgreSQL listens on a Unix socket only)."""
        claims: list[PortClaim] = []
        if self.nats_url is None:
            claims += [
                PortClaim(self.nats_port, "nats", "TOKO_NATS_PORT"),
                PortClaim(self.nats_monitor_port, "nats monitoring", "TOKO_NATS_MONITOR_PORT"),
            ]
        if self.redis_url is None:
            claims.append(PortClaim(self.valkey_port, "valkey", "TOKO_VALKEY_PORT"))
        return claims

    def with_free_ports(self) -> InfraConfig:
        """Replace every port 0 with a currently free port."""
        return replace(
            self,
            nats_port=self.nats_port or free_port(),
            nats_monitor_port=self.nats_monitor_port or free_port(),
            valkey_port=self.valkey_port or free_port(),
        )


@dataclass(frozen=True)
class InfraEndpoints:
    """How services and tools reach the servers."""

    database_url: str  # postgresql+asyncpg://… for SQLAlchemy / asyncpg
    libpq_url: str  # postgresql://… for psql, pgbench and other libpq clients
    nats_url: str
    redis_url: str
    nats_monitor_url: str | None = None
    pg_bin_dir: str | None = None

    def as_env(self) -> dict[str, str]:
        """The TOKO_*_URL variables every service reads."""
        return {
            DATABASE_URL_ENV: self.database_url,
            NATS_URL_ENV: self.nats_url,
            REDIS_URL_ENV: self.redis_url,
        }

    def pg_tool(self, tool: str) -> str:
        """Path of a PostgreSQL client program (psql, pgbench, pg_dump) from the wheel."""
        return str(Path(self.pg_bin_dir or wheel_bin_dir()) / tool)

    def pgbench_command(self, *args: str) -> list[str]:
        """A pgbench command line against this database, e.g. pgbench_command("-i", "-s", "1")."""
        return [self.pg_tool("pgbench"), *args, self.libpq_url]

    def psql_command(self, *args: str) -> list[str]:
        """A psql command line against this database."""
        return [self.pg_tool("psql"), "-X", "-v", "ON_ERROR_STOP=1", *args, self.libpq_url]

    def to_dict(self) -> dict[str, Any]:
        """For the state file."""
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> InfraEndpoints:
        """From the state file."""
        return cls(
            database_url=str(raw["database_url"]),
            libpq_url=str(raw["libpq_url"]),
            nats_url=str(raw["nats_url"]),
            redis_url=str(raw["redis_url"]),
            nats_monitor_url=raw.get("nats_monitor_url"),
            pg_bin_dir=raw.get("pg_bin_dir"),
        )


def libpq_url(database_url: str) -> str:
    """Drop SQLAlchemy's `+driver` so libpq tools accept the URL."""
    scheme, sep, rest = database_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class Infrastructure:
    """The servers of one data directory: `start()` them (or check external ones), `stop()` what we started.

    Holds the data directory's instance lock from start to stop, so two toko never share one data dir.
    Start and stop from a long-lived thread (the main thread): the servers die with the spawning thread.
    """

    def __init__(self, config: InfraConfig) -> None:
        self.config = config.with_free_ports()
        self.layout = DataLayout(self.config.data_dir)
        self._lock = InstanceLock(self.layout.lock_file)
        self._postgres: EmbeddedPostgres | None = None
        self._nats: NatsServer | None = None
        self._valkey: ValkeyServer | None = None
        self._endpoints: InfraEndpoints | None = None

    @property
    def endpoints(self) -> InfraEndpoints:
        """Endpoints after start()."""
        if self._endpoints is None:
            raise InfraError("infrastructure not started")
        return self._endpoints

    @property
    def postgres(self) -> EmbeddedPostgres | None:
        """The embedded PostgreSQL, if we run one."""
        return self._postgres

    def start(self, also_needed: Sequence[PortClaim] = ()) -> InfraEndpoints:
        """Take the lock, start the embedded servers concurrently and wait until all are healthy.

        Before starting anything, refuse (``PortInUseError``) if a port of theirs or ``also_needed``
        (the services' ports, when the supervisor starts them next) is taken.
        """
        self.layout.ensure()
        self._lock.acquire()
        try:
            refuse_taken_ports([*self.config.port_claims(), *also_needed])
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> InfraEndpoints:
        cfg, layout = self.config, self.layout
        if cfg.database_url is None:
            self._postgres = EmbeddedPostgres(cfg.data_dir, layout.log_file("postgres"), cfg.postgres)
        if cfg.nats_url is None:
            self._nats = NatsServer(
                cfg.nats_port, cfg.nats_monitor_port, layout.nats_dir, layout.log_file("nats")
            )
        if cfg.redis_url is None:
            self._valkey = ValkeyServer(cfg.valkey_port, layout.valkey_dir, layout.log_file("valkey"))
        # initdb (the slow part) runs in a worker thread; every server process is spawned from this
        # thread, because PR_SET_PDEATHSIG ties a child's life to the thread that forked it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="toko-initdb") as pool:
            prepared = pool.submit(self._postgres.prepare) if self._postgres else None
            for server in (self._nats, self._valkey):
                if server:
                    server.launch()
            if prepared:
                prepared.result()
        if self._postgres:
            self._postgres.launch()
        deadline = time.monotonic() + cfg.start_timeout
        for ready in (self._postgres, self._nats, self._valkey):
            if ready:
                ready.wait_ready(max(0.1, deadline - time.monotonic()))
        self._check_external(deadline)
        self._endpoints = self._make_endpoints()
        return self._endpoints

    def _check_external(self, deadline: float) -> None:
        """Wait until the external servers we were pointed at answer."""
        cfg = self.config
        checks: list[tuple[str, str, Any]] = []
        if cfg.database_url:
            checks.append(("PostgreSQL", cfg.database_url, _postgres_answers))
        if cfg.nats_url:
            checks.append(("NATS", cfg.nats_url, lambda url: _tcp_check(url, 4222, nats_info)))
        if cfg.redis_url:
            checks.append(("Valkey/Redis", cfg.redis_url, lambda url: _tcp_check(url, 6379, resp_ping)))
        for label, url, check in checks:
            while not check(url):
                if time.monotonic() > deadline:
                    raise InfraError(f"external {label} at {url} does not answer")
                time.sleep(0.2)

    def _make_endpoints(self) -> InfraEndpoints:
        cfg = self.config
        pg, nats, valkey = self._postgres, self._nats, self._valkey
        database_url = pg.database_url if pg else str(cfg.database_url)
        return InfraEndpoints(
            database_url=database_url,
            libpq_url=pg.libpq_url if pg else libpq_url(database_url),
            nats_url=nats.url if nats else str(cfg.nats_url),
            redis_url=valkey.url if valkey else str(cfg.redis_url),
            nats_monitor_url=nats.monitor_url if nats else None,
            pg_bin_dir=str(wheel_bin_dir()),
        )

    def entries(self) -> list[ProcessEntry]:
        """Every server, started or external, for the state file."""
        ep = self.endpoints
        pg, nats, valkey = self._postgres, self._nats, self._valkey
        return [
            ProcessEntry(
                "postgres",
                "postgres",
                str(pg.socket_dir) if pg else _redacted(ep.database_url),
                pg.pid if pg else None,
                ep.database_url,
                pg is not None,
            ),
            ProcessEntry(
                "nats",
                "nats",
                f"127.0.0.1:{nats.port}" if nats else _redacted(ep.nats_url),
                nats.pid if nats else None,
                ep.nats_url,
                nats is not None,
            ),
            ProcessEntry(
                "valkey",
                "valkey",
                f"127.0.0.1:{valkey.port}" if valkey else _redacted(ep.redis_url),
                valkey.pid if valkey else None,
                ep.redis_url,
                valkey is not None,
            ),
        ]

    def pids(self) -> list[int]:
        """Pids of the servers we run."""
        return [s.pid for s in (self._postgres, self._nats, self._valkey) if s and s.pid]

    def stop(self) -> None:
        """Stop every server we started (PostgreSQL with a fast shutdown), then release the lock."""
        try:
            for server in (self._valkey, self._nats, self._postgres):
                if server:
                    server.stop()
        finally:
            self._lock.release()

    def discard_data(self) -> None:
        """Delete PostgreSQL's data kept outside the data dir (the /var/tmp fallback); for tests."""
        pg = self._postgres
        if pg and pg.pid is None and not pg.base_dir.is_relative_to(self.config.data_dir):
            shutil.rmtree(pg.base_dir, ignore_errors=True)
        if pg and pg.pid is None and not pg.socket_dir.is_relative_to(pg.base_dir):
            shutil.rmtree(pg.socket_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _redacted(url: str) -> str:
    """host:port of a URL, without credentials."""
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or url


def _tcp_check(url: str, default_port: int, check: Any) -> bool:
    parts = urlsplit(url)
    return bool(check(parts.hostname or "127.0.0.1", parts.port or default_port))


def _postgres_answers(database_url: str) -> bool:
    """pg_isready from the wheel against an external server."""
    result = subprocess.run(
        [str(wheel_bin_dir() / "pg_isready"), "-t", "2", "-d", libpq_url(database_url)],
        capture_output=True,
        check=False,
    )
    return result.returncode == 0
