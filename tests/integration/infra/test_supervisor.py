"""The supervisor runs real service processes: health, restarts with backoff, seeding, clean stops."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from toko.infra import InfraConfig, InfraEndpoints, Infrastructure, ServiceSpec
from toko.infra.netcheck import free_port
from toko.infra.postgres import fallback_base_dir
from toko.infra.state import read_state
from toko.infra.supervisor import Backoff, Supervisor
from toko.infra.testing import alive_pids, processes_mentioning, wait_for, wait_until

HERE = Path(__file__).resolve().parent
# The restart delays of Backoff(initial=0.1, factor=2.0, maximum=1.0), in order.
BACKOFF = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def _supervisor(
    endpoints: InfraEndpoints, data_dir: Path, spec: ServiceSpec, lines: list[str], crashes: int = 0
) -> Supervisor:
    config = InfraConfig(
        data_dir=data_dir,
        database_url=endpoints.database_url,
        nats_url=endpoints.nats_url,
        redis_url=endpoints.redis_url,
    )
    env = {
        "PYTHONPATH": str(HERE),
        "FAKE_CRASHES": str(crashes),
        "FAKE_COUNTER_FILE": str(data_dir / "fake-starts"),
        "FAKE_ENV_FILE": str(data_dir / "fake-env.json"),
        "FAKE_SEED_LOG": str(data_dir / "seed.log"),
    }
    return Supervisor(
        Infrastructure(config),
        [spec],
        backoff=Backoff(initial=0.1, factor=2.0, maximum=1.0),
        extra_env=env,
        stop_timeout=5.0,
        echo=lines.append,
    )


async def test_a_crashing_service_is_restarted_with_exponential_backoff(
    infrastructure: InfraEndpoints, tmp_path: Path
) -> None:
    lines: list[str] = []
    supervisor = _supervisor(
        infrastructure, tmp_path, ServiceSpec("fake", "fake_service", free_port()), lines, 2
    )
    try:
        await supervisor.start()
        health = await supervisor.wait_healthy(20)
        assert health["fake"].healthy, lines
        delays = supervisor.restart_delays("fake")
        # Two crashes, then up. A start can also fail for a reason of the machine's (its port taken
        # meanwhile by a connection to itself, say): it is restarted on the same schedule.
        assert delays[:2] == [0.1, 0.2], lines
        assert delays == BACKOFF[: len(delays)], lines
        assert any(
            "fake WARNING exited with code 3" in line and "restarting in 0.1s" in line for line in lines
        )

        first = supervisor.pid("fake")
        assert first is not None
        os.kill(first, signal.SIGKILL)
        await wait_until(lambda: supervisor.pid("fake") not in (None, first), what="a new fake process")
        assert (await supervisor.wait_healthy(20))["fake"].healthy
        after_kill = supervisor.restart_delays("fake")
        assert after_kill[: len(delays) + 1] == BACKOFF[: len(delays) + 1], lines
        assert any("fake WARNING was killed by SIGKILL" in line for line in lines)
        second = supervisor.pid("fake")
    finally:
        await supervisor.stop()
    assert alive_pids([first, second or 0]) == []
    assert not (tmp_path / "run" / "state.json").exists()


async def test_the_console_shows_a_person_what_matters_and_the_log_file_keeps_everything(
    infrastructure: InfraEndpoints, tmp_path: Path
) -> None:
    lines: list[str] = []
    supervisor = _supervisor(
        infrastructure, tmp_path, ServiceSpec("fake", "fake_service", free_port()), lines, 1
    )
    try:
        await supervisor.start()
        assert (await supervisor.wait_healthy(20))["fake"].healthy, lines
        log = tmp_path / "logs" / "fake.log"
        await wait_until(lambda: "disk almost full" in log.read_text(), what="the fake's warning in its log")
    finally:
        await supervisor.stop()

    logged = log.read_text().splitlines()
    shown = [line.split(" ", 1)[1] for line in lines]  # without the HH:MM:SS clock
    assert '{"level": "info", "service": "fake", "message": "http request", "route": "/"}' in logged
    assert "fake: crashing on start 1" in logged
    assert re.fullmatch(r"fake started \(pid [0-9]+\)", shown[0])
    assert any(line.startswith("fake WARNING exited with code 3 after ") for line in shown)
    assert "fake fake: crashing on start 1" in shown
    assert "fake WARNING disk almost full" in shown
    assert not any("http request" in line for line in lines)
    assert all(re.fullmatch(r"[0-2][0-9]:[0-5][0-9]:[0-6][0-9] .+", line) for line in lines), lines


async def test_services_get_the_platform_env_and_seeds_run_once(
    infrastructure: InfraEndpoints, tmp_path: Path
) -> None:
    lines: list[str] = []
    port = free_port()
    spec = ServiceSpec("fake", "fake_service", port, seed=("fake_seed", "no_such_seed_module"))
    supervisor = _supervisor(infrastructure, tmp_path, spec, lines)
    try:
        await supervisor.start()
        assert (await supervisor.wait_healthy(20))["fake"].healthy
        outcomes = [(r.module, r.outcome) for r in await supervisor.seed()]
        assert outcomes == [("fake_seed", "ran"), ("no_such_seed_module", "missing")]
        assert next((r.module, r.outcome) for r in await supervisor.seed()) == ("fake_seed", "done-before")

        env = json.loads((tmp_path / "fake-env.json").read_text())
        assert not (tmp_path / "dev-admin-token").exists()
        assert not any("ADMIN_TOKEN" in name for name in env)
        assert env["TOKO_DATABASE_URL"] == infrastructure.database_url
        assert env["TOKO_NATS_URL"] == infrastructure.nats_url
        assert env["TOKO_REDIS_URL"] == infrastructure.redis_url
        assert env["TOKO_FAKE_PORT"] == str(port)
        assert env["TOKO_DATA_DIR"] == str(supervisor.infra.config.data_dir)

        state = read_state(tmp_path / "run" / "state.json")
        assert state is not None
        assert [(s.name, s.pid, s.address) for s in state.services] == [
            ("fake", supervisor.pid("fake"), f"127.0.0.1:{port}")
        ]
        assert {s.name: s.managed for s in state.servers} == {
            "postgres": False,
            "nats": False,
            "valkey": False,
        }
    finally:
        await supervisor.stop()

    again = _supervisor(infrastructure, tmp_path, spec, lines)
    try:
        await again.start()
        assert next((r.module, r.outcome) for r in await again.seed()) == ("fake_seed", "done-before")
    finally:
        await again.stop()
    assert (tmp_path / "seed.log").read_text().count("seeded with") == 1


def _start_supervisor_process(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "run_supervisor.py"), str(data_dir), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, port


def _running_state(data_dir: Path, proc: subprocess.Popen[bytes]) -> list[int]:
    """Wait until the supervisor in `proc` reports everything running; return every pid it owns."""

    def ready() -> bool:
        assert proc.poll() is None, "supervisor exited early"
        state = read_state(data_dir / "run" / "state.json")
        return state is not None and all(s.pid for s in state.servers + state.services)

    wait_for(ready, 30, "the supervisor's state file")
    state = read_state(data_dir / "run" / "state.json")
    assert state is not None
    return [p.pid for p in state.servers + state.services if p.pid]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_killing_the_supervisor_leaves_no_orphans(tmp_path: Path, sig: signal.Signals) -> None:
    proc, _ = _start_supervisor_process(tmp_path)
    try:
        pids = _running_state(tmp_path, proc)
        assert len(pids) == 4
        if sig == signal.SIGTERM:
            toko = Path(sys.executable).with_name("toko")
            wait_for(
                lambda: (
                    subprocess.run(
                        [str(toko), "status"],
                        env=os.environ | {"TOKO_DATA_DIR": str(tmp_path)},
                        capture_output=True,
                        check=False,
                    ).returncode
                    == 0
                ),
                20,
                "`toko status` to report everything healthy",
            )
        proc.send_signal(sig)
        code = proc.wait(30)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
        wait_for(lambda: not alive_pids(pids), 15, "every server and service to exit")
        wait_for(lambda: not processes_mentioning(str(tmp_path)), 15, "no process using the data dir")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for leftover in processes_mentioning(str(tmp_path)):
            leftover.kill()
        # As root the cluster lives in /var/tmp (pytest's tmp dirs are 0700); do not leave it behind.
        shutil.rmtree(fallback_base_dir(tmp_path), ignore_errors=True)
