"""The `toko` operator command: up, status, seed, run, infra, token."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import Annotated

import typer

from toko.infra.errors import AlreadyRunningError, InfraError
from toko.infra.layout import DataLayout
from toko.infra.lock import is_locked
from toko.infra.probes import Probe, probe_nats, probe_postgres, probe_redis
from toko.infra.seeding import run_seed_hooks
from toko.infra.servers import (
    DATABASE_URL_ENV,
    NATS_URL_ENV,
    REDIS_URL_ENV,
    InfraConfig,
    InfraEndpoints,
    Infrastructure,
)
from toko.infra.services import ServiceSpec, configured_services, find_service, service_env
from toko.infra.signin import SignInError, demo_password, save_refresh_token, saved_refresh_token, sign_in
from toko.infra.signin import refresh as refresh_tokens
from toko.infra.state import ProcessEntry, RunState, read_state, remove_state, write_state
from toko.infra.supervisor import Backoff, Supervisor, probe_service

app = typer.Typer(name="toko", help="Run and inspect the toko marketplace platform.", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: $TOKO_DATA_DIR or .toko/ in the checkout)."),
]


def _config(data_dir: Path | None) -> InfraConfig:
    return InfraConfig.from_env(data_dir)


def _running_state(layout: DataLayout) -> RunState | None:
    """The state of a live instance (its lock is held), else None."""
    return read_state(layout.state_file) if is_locked(layout.lock_file) else None


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


@app.command()
def up(
    data_dir: DataDirOption = None,
    bench: Annotated[
        bool, typer.Option("--bench", help="Also start the services only benchmarks use (echo).")
    ] = False,
    json_stream: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print every log line of every service (JSON), not only what a person needs to see.",
        ),
    ] = False,
) -> None:
    """Start the servers and every service in the foreground until Ctrl-C.

    Each process's full log goes to the data directory's logs/<name>.log; the console shows processes
    starting, healthy, exiting and restarting, and the services' warnings and errors.
    """
    supervisor = Supervisor(
        Infrastructure(_config(data_dir)),
        configured_services(bench=bench),
        backoff=_backoff(),
        stream=json_stream,
        colour=_colour_wanted(),
    )
    try:
        code = asyncio.run(supervisor.run())
    except AlreadyRunningError as exc:
        raise _fail(str(exc)) from None
    except InfraError as exc:
        raise _fail(f"toko: {exc}") from None
    raise typer.Exit(code)


def _backoff() -> Backoff:
    try:
        return Backoff.from_env(os.environ)
    except ValueError as exc:
        raise _fail(f"toko: {exc}") from None


def _colour_wanted() -> bool:
    """Colour only on a terminal, and not when NO_COLOR is set (no-color.org)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"


@app.command()
def infra(data_dir: DataDirOption = None) -> None:
    """Start only PostgreSQL, NATS and Valkey (for developing a service with `toko run`)."""
    infrastructure = Infrastructure(_config(data_dir))
    try:
        endpoints = infrastructure.start()
    except AlreadyRunningError as exc:
        raise _fail(str(exc)) from None
    except InfraError as exc:
        raise _fail(f"toko: {exc}") from None
    layout = infrastructure.layout
    try:
        state = RunState(os.getpid(), str(layout.root), endpoints.to_dict(), infrastructure.entries(), [])
        write_state(layout.state_file, state)
        for key, value in endpoints.as_env().items():
            typer.echo(f"{key}={value}")
        typer.echo("Servers running; press Ctrl-C to stop.")
        # Block the signals only now: children spawned earlier must not inherit a blocked mask.
        stop_signals = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
        signal.sigwait(stop_signals)
    finally:
        remove_state(layout.state_file)
        infrastructure.stop()


async def _probe_entry(entry: ProcessEntry, endpoints: InfraEndpoints) -> Probe:
    if entry.url is None:
        return Probe(False, "not running")
    if entry.kind == "postgres":
        return await probe_postgres(entry.url)
    if entry.kind == "nats":
        return await probe_nats(entry.url, endpoints.nats_monitor_url)
    if entry.kind == "valkey":
        return await probe_redis(entry.url)
    spec = _spec_for(entry)
    return await probe_service(spec)


def _spec_for(entry: ProcessEntry) -> ServiceSpec:
    port = int(entry.address.rsplit(":", 1)[1])
    try:
        return find_service(entry.name).with_port(port)
    except KeyError:
        return ServiceSpec(entry.name, "", port, "http" if entry.kind == "http" else "grpc")


async def _gather(*probes: Awaitable[Probe]) -> list[Probe]:
    return list(await asyncio.gather(*probes))


@app.command()
def status(data_dir: DataDirOption = None) -> None:
    """Probe every server and service; exit code 1 if anything is unhealthy or not running."""
    config = _config(data_dir)
    layout = DataLayout(config.data_dir)
    state = _running_state(layout)
    if state is None:
        raise _fail(f"toko is not running (data dir {config.data_dir}); start it with `make up`")
    typer.echo(f"toko is running (pid {state.pid}), data in {state.data_dir}")
    endpoints = InfraEndpoints.from_dict(state.endpoints)
    entries = state.servers + state.services
    probes = asyncio.run(_gather(*(_probe_entry(entry, endpoints) for entry in entries)))
    for entry, probe in zip(entries, probes, strict=True):
        mark = "healthy" if probe.healthy else "UNHEALTHY"
        pid = f"pid {entry.pid}" if entry.pid else ("external" if not entry.managed else "-")
        detail = "" if probe.healthy else f"  {_shorten(probe.detail)}"
        typer.echo(f"  {entry.name:<9} {mark:<9} {entry.address:<40} {pid}{detail}")
    if not state.services:
        typer.echo("  (servers only, started by `toko infra`: run services with `toko run <service>`)")
    if not all(p.healthy for p in probes):
        raise typer.Exit(1)


def _shorten(text: str, limit: int = 90) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else f"{line[: limit - 1]}…"


def _platform_env(layout: DataLayout) -> InfraEndpoints:
    """Endpoints of the running platform, else from TOKO_*_URL variables."""
    state = _running_state(layout)
    if state:
        return InfraEndpoints.from_dict(state.endpoints)
    urls = [os.environ.get(name) for name in (DATABASE_URL_ENV, NATS_URL_ENV, REDIS_URL_ENV)]
    if not all(urls):
        raise _fail(
            "toko is not running: start it with `toko up` or `toko infra`, "
            f"or set {DATABASE_URL_ENV}, {NATS_URL_ENV} and {REDIS_URL_ENV}"
        )
    database_url, nats_url, redis_url = (str(url) for url in urls)
    from toko.infra.servers import libpq_url

    return InfraEndpoints(database_url, libpq_url(database_url), nats_url, redis_url)


@app.command()
def seed(data_dir: DataDirOption = None) -> None:
    """Run every seed hook against the running platform (again, even if it ran before)."""
    config = _config(data_dir)
    layout = DataLayout(config.data_dir)
    endpoints = _platform_env(layout)

    def env_for(spec: ServiceSpec) -> dict[str, str]:
        return service_env(spec, configured_services(), endpoints, data_dir=config.data_dir)

    results = asyncio.run(
        run_seed_hooks(
            configured_services(), env_for, layout.seed_file, lambda m: typer.echo(f"seed: {m}"), force=True
        )
    )
    for result in results:
        typer.echo(f"  {result.module}: {result.outcome} {result.detail}".rstrip())
    if any(r.outcome == "failed" for r in results):
        raise typer.Exit(1)


@app.command()
def run(
    service: Annotated[str, typer.Argument(help="Service name, e.g. product.")],
    port: Annotated[int | None, typer.Option(help="Listen on this port instead of the registry's.")] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Run one service in the foreground with the running platform's configuration."""
    try:
        spec = find_service(service, configured_services(bench=True))
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None
    if port is not None:
        spec = spec.with_port(port)
    config = _config(data_dir)
    layout = DataLayout(config.data_dir)
    state = _running_state(layout)
    if state and port is None:
        for entry in state.services:
            if entry.name == spec.name and entry.pid:
                raise _fail(
                    f"{spec.name} already runs under `toko up` (pid {entry.pid}) on {entry.address}; "
                    "pass --port to run a second copy"
                )
    endpoints = _platform_env(layout)
    # The platform as `toko up` runs it, so that a gateway run here routes to the same services.
    platform = configured_services(bench=spec.bench_only)
    env = service_env(spec, platform, endpoints, data_dir=config.data_dir)
    typer.echo(f"toko: running {spec.name} ({spec.module}) on {spec.address}", err=True)
    sys.stdout.flush()
    os.execve(sys.executable, spec.command(), env)  # noqa: S606 - replace this process: signals go straight to it


@app.command()
def token(
    user: Annotated[str, typer.Option("--user", help="The account's email address.")],
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Use the refresh token kept by an earlier sign-in; no password.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    totp: Annotated[
        str | None, typer.Option("--totp", help="The current two-factor code, if enabled.")
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Sign in as USER (authorization code flow with PKCE) and print an access token."""
    folder = _config(data_dir).data_dir
    base_url = os.environ.get("TOKO_PUBLIC_BASE_URL") or find_service("gateway", configured_services()).url
    try:
        saved = saved_refresh_token(folder, user) if refresh else None
        if saved is not None:
            tokens = refresh_tokens(base_url, saved)
        else:
            if password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = demo_password(folder, user) or typer.prompt(
                    f"Password for {user}", hide_input=True
                )
            tokens = sign_in(base_url, user, password, totp_code=(lambda: totp) if totp else None)
    except SignInError as exc:
        raise _fail(f"toko: {exc}") from None
    save_refresh_token(folder, user, tokens)
    typer.echo(tokens.access_token)
