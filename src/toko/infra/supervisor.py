"""Run every service as its own process next to the servers: health, restarts with backoff, clean stop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from toko.infra.console import Console, print_line
from toko.infra.probes import Probe, probe_grpc, probe_http
from toko.infra.procs import die_with_parent, kill_group
from toko.infra.seeding import SeedResult, run_seed_hooks
from toko.infra.servers import InfraEndpoints, Infrastructure
from toko.infra.services import SERVICES, ServiceSpec, ensure_credentials, service_env
from toko.infra.state import ProcessEntry, RunState, remove_state, write_state


@dataclass(frozen=True)
class Backoff:
    """Exponential restart delays: initial, initial*factor, … capped at maximum."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 30.0
    reset_after: float = 30.0  # a run this long counts as healthy: the next crash starts from `initial`

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Backoff:
        """The default, with its cap lowered by ``TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS`` when set.

        A test platform whose crash tests kill one service many times sets it to a few seconds: the
        default cap (30 s) makes a streak of kills wait minutes for its restarts.
        """
        raw = env.get("TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS", "").strip()
        if not raw:
            return cls()
        try:
            maximum = float(raw)
        except ValueError:
            raise ValueError(
                f"TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS must be a number of seconds, not {raw!r}"
            ) from None
        if not 0.5 <= maximum <= 300:
            raise ValueError("TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS must be 0.5 to 300")
        return cls(maximum=maximum)

    def delay(self, attempt: int) -> float:
        """Delay before restart number `attempt` (0-based) of a crash streak."""
        return float(min(self.maximum, self.initial * self.factor**attempt))


@dataclass(eq=False)
class _Child:
    """Runtime state of one supervised service."""

    spec: ServiceSpec
    env: dict[str, str]
    proc: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    streak: int = 0
    restart_delays: list[float] = field(default_factory=list)
    pump: asyncio.Task[None] | None = None


async def probe_service(spec: ServiceSpec, seconds: float = 1.0) -> Probe:
    """gRPC health (service "") for gRPC services, GET /healthz for HTTP ones."""
    if spec.kind == "http":
        return await probe_http(f"{spec.url}/healthz", seconds)
    return await probe_grpc(spec.address, seconds)


class Supervisor:
    """Starts the infrastructure and the services, keeps them running, stops everything cleanly."""

    def __init__(
        self,
        infra: Infrastructure,
        services: Sequence[ServiceSpec] | None = None,
        *,
        backoff: Backoff | None = None,
        extra_env: Mapping[str, str] | None = None,
        stop_timeout: float = 10.0,
        health_timeout: float = 60.0,
        echo: Callable[[str], None] = print_line,
        stream: bool = False,
        colour: bool = False,
    ) -> None:
        """``echo`` receives the console's lines: the person's view, or with ``stream`` every line of
        every service (``toko up --json``); see ``toko.infra.console``."""
        self.infra = infra
        # By default what `make up` runs: the registry without the bench-only services.
        self.services = tuple(services if services is not None else (s for s in SERVICES if not s.bench_only))
        self.backoff = backoff or Backoff()
        self._extra_env = dict(extra_env or {})
        self._stop_timeout = stop_timeout
        self._health_timeout = health_timeout
        self._console = Console(echo, stream=stream, colour=colour)
        self._children: dict[str, _Child] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        self._started = False

    @property
    def endpoints(self) -> InfraEndpoints:
        """Server endpoints (after start)."""
        return self.infra.endpoints

    def pid(self, name: str) -> int | None:
        """Current pid of a service, None while it is down."""
        proc = self._children[name].proc
        return proc.pid if proc and proc.returncode is None else None

    def restart_delays(self, name: str) -> list[float]:
        """Backoff delays applied so far to a service's restarts."""
        return list(self._children[name].restart_delays)

    def env_for(self, spec: ServiceSpec) -> dict[str, str]:
        """Environment of a service (or of its seed hooks)."""
        env = service_env(spec, self.services, self.endpoints, data_dir=self.infra.config.data_dir)
        return env | self._extra_env

    async def start(self) -> None:
        """Start the servers, then every service in parallel (returns without waiting for health)."""
        # Blocking on purpose, on the loop's thread: the servers die with the thread that spawned them.
        self.infra.start(also_needed=[claim for spec in self.services for claim in spec.port_claims()])
        ensure_credentials(self.services, self.infra.config.data_dir)
        self._started = True
        for spec in self.services:
            child = _Child(spec, self.env_for(spec))
            self._children[spec.name] = child
            self._tasks.append(asyncio.create_task(self._watch(child), name=f"watch-{spec.name}"))
        await asyncio.sleep(0)  # let the watchers spawn before callers inspect pids

    async def wait_healthy(self, seconds: float | None = None) -> dict[str, Probe]:
        """Probe every service until all are healthy, `seconds` passes or a stop is requested."""
        deadline = time.monotonic() + (self._health_timeout if seconds is None else seconds)
        began = time.monotonic()
        results: dict[str, Probe] = {name: Probe(False, "not probed") for name in self._children}
        while not self._stopping.is_set():
            pending = [self._children[name].spec for name, probe in results.items() if not probe.healthy]
            for spec, probe in zip(pending, await asyncio.gather(*map(probe_service, pending)), strict=True):
                results[spec.name] = probe
                if probe.healthy:
                    self._console.news(
                        f"healthy after {time.monotonic() - began:.1f}s", name=spec.name, good=True
                    )
            if all(p.healthy for p in results.values()) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        return results

    async def seed(self, *, force: bool = False) -> list[SeedResult]:
        """Run the seed hooks (once per data directory unless forced)."""
        return await run_seed_hooks(
            self.services,
            self.env_for,
            self.infra.layout.seed_file,
            lambda message: self._console.news(message, name="seed"),
            output=self._seed_output,
            force=force,
        )

    async def stop(self) -> None:
        """SIGTERM every service, SIGKILL stragglers after the timeout, then stop the servers."""
        self._stopping.set()
        await asyncio.gather(*(self._terminate(child) for child in self._children.values()))
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._started:
            remove_state(self.infra.layout.state_file)
            self._started = False
        self.infra.stop()

    async def run(self) -> int:
        """`toko up`: start, wait for health, seed once, print URLs, supervise until SIGINT/SIGTERM/SIGHUP."""
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        for sig in signals:
            loop.add_signal_handler(sig, self._stopping.set)
        try:
            await self.start()
            self._console.news(f"servers ready, starting {len(self.services)} services")
            health = await self.wait_healthy()
            if self._stopping.is_set():
                return 0
            unhealthy = [name for name, probe in health.items() if not probe.healthy]
            for name in unhealthy:
                self._console.news(
                    f"is NOT healthy ({health[name].detail}); see {self._log_path(name)}",
                    name=name,
                    level="error",
                )
            if not unhealthy:
                await self.seed()
            self._console.block(self.banner())
            await self._stopping.wait()
            self._console.news("stopping")
            return 0
        finally:
            await self.stop()
            for sig in signals:
                loop.remove_signal_handler(sig)

    def banner(self) -> str:
        """URLs, addresses, and where the demo credentials are (never the secrets themselves)."""
        ep = self.endpoints
        lines = [f"toko is up (pid {os.getpid()}), data in {self.infra.config.data_dir}"]
        for spec in self.services:
            if spec.upstreams:
                lines.append(
                    f"  {spec.name:<9} {spec.url}  (docs {spec.url}/docs, spec {spec.url}/openapi.json)"
                )
            elif spec.kind == "http":
                lines.append(f"  {spec.name:<9} {spec.url}{spec.home_path}")
            else:
                lines.append(f"  {spec.name:<9} grpc {spec.address}")
        lines += [
            f"  {'postgres':<9} {ep.database_url}",
            f"  {'nats':<9} {ep.nats_url}",
            f"  {'valkey':<9} {ep.redis_url}",
            *credentials_lines(self.infra.layout.credentials_file),
            f"  logs of every process, in full (JSON lines): {self.infra.layout.logs_dir}/<name>.log",
            "Press Ctrl-C to stop.",
        ]
        return "\n".join(lines)

    def _seed_output(self, line: str) -> None:
        """A line a seed hook printed: into logs/seed.log, and to the console as a service's line."""
        with self.infra.layout.log_file("seed").open("a") as log:
            log.write(f"{line}\n")
        self._console.output("seed", line)

    def _log_path(self, name: str) -> str:
        return str(self.infra.layout.log_file(name))

    def _write_state(self) -> None:
        services = [
            ProcessEntry(c.spec.name, c.spec.kind, c.spec.address, self.pid(c.spec.name), c.spec.url)
            for c in self._children.values()
        ]
        state = RunState(
            pid=os.getpid(),
            data_dir=str(self.infra.config.data_dir),
            endpoints=self.endpoints.to_dict(),
            servers=self.infra.entries(),
            services=services,
        )
        write_state(self.infra.layout.state_file, state)

    async def _watch(self, child: _Child) -> None:
        """Keep one service running: spawn, wait for exit, back off, respawn."""
        name = child.spec.name
        while not self._stopping.is_set():
            proc = await self._spawn(child)
            if self._stopping.is_set():
                await self._terminate(child)
                return
            self._write_state()
            code = await proc.wait()
            kill_group(proc.pid)  # whatever the service left behind in its process group
            if child.pump:
                await child.pump
            if self._stopping.is_set():
                return
            ran = time.monotonic() - child.started_at
            if ran >= self.backoff.reset_after:
                child.streak = 0
            delay = self.backoff.delay(child.streak)
            child.streak += 1
            child.restart_delays.append(delay)
            self._console.news(
                f"{_describe_exit(code)} after {ran:.1f}s; restarting in {delay:.1f}s "
                f"(restart #{len(child.restart_delays)}, exponential backoff); see {self._log_path(name)}",
                name=name,
                level="warning",
            )
            self._write_state()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)

    async def _spawn(self, child: _Child) -> asyncio.subprocess.Process:
        log_file = self.infra.layout.log_file(child.spec.name)
        proc = await asyncio.create_subprocess_exec(
            *child.spec.command(),
            env=child.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the services in order
            preexec_fn=die_with_parent(signal.SIGTERM),
            limit=1 << 20,
        )
        child.proc = proc
        child.started_at = time.monotonic()
        child.pump = asyncio.create_task(self._pump(child.spec.name, proc, log_file.open("ab")))
        self._console.news(f"started (pid {proc.pid})", name=child.spec.name)
        return proc

    async def _pump(self, name: str, proc: asyncio.subprocess.Process, log: IO[bytes]) -> None:
        """Copy a service's output to its log file, and what the console shows of it to the console."""
        assert proc.stdout is not None
        with log:
            while True:
                try:
                    line = await proc.stdout.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    continue
                if not line:
                    return
                log.write(line)
                log.flush()
                self._console.output(name, line.decode(errors="replace"))

    async def _terminate(self, child: _Child) -> None:
        proc = child.proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), self._stop_timeout)
            except TimeoutError:
                self._console.news(
                    f"did not stop in {self._stop_timeout:.0f}s, killing it",
                    name=child.spec.name,
                    level="warning",
                )
                kill_group(proc.pid)
                await proc.wait()
        kill_group(proc.pid)


def credentials_lines(path: Path) -> list[str]:
    """Banner lines about the demo credentials file: its path, the admin's email, the scripts' client id."""
    lines = [f"  demo credentials (passwords, client secret): {path}"]
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return [*lines, "    (not written yet: the user and auth seeds write it)"]
    admin = _find(document.get("accounts") if isinstance(document, dict) else None, _is_admin)
    if admin is not None:
        lines.append(f"    admin: {admin.get('email')}")
    scripts = _find(document.get("clients") if isinstance(document, dict) else None, _is_scripts_client)
    if scripts is not None:
        lines.append(
            f"    client for scripts: {scripts.get('client_id', 'toko-scripts')} (client credentials)"
        )
    return lines


def _find(entries: object, wanted: Callable[[str, dict[str, Any]], bool]) -> dict[str, Any] | None:
    # The seeds own the file's layout; accept a list of entries or a mapping of name -> entry.
    items: list[tuple[str, Any]] = []
    if isinstance(entries, dict):
        items = [(str(name), entry) for name, entry in entries.items()]
    elif isinstance(entries, list):
        items = [("", entry) for entry in entries]
    for name, entry in items:
        if isinstance(entry, dict) and wanted(name, entry):
            return entry
    return None


def _is_admin(name: str, entry: dict[str, Any]) -> bool:
    roles = entry.get("roles")
    email = str(entry.get("email", ""))
    return (isinstance(roles, list) and "admin" in roles) or name == "admin" or email.startswith("admin@")


def _is_scripts_client(name: str, entry: dict[str, Any]) -> bool:
    return "toko-scripts" in (name, entry.get("client_id"))


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"
