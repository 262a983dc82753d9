"""The `toko` command's first answers: a taken port refuses `toko up` at once, `toko status` of nothing."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from toko.infra.netcheck import free_port
from toko.infra.testing import every_port_variable, processes_mentioning

TOKO = Path(sys.executable).with_name("toko")


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something else already listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _toko(*args: str, data_dir: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TOKO_")}
    return subprocess.run(
        [str(TOKO), *args],
        env=clean | {"TOKO_DATA_DIR": str(data_dir)} | (env or {}),
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("variable", every_port_variable())
def test_up_refuses_a_taken_port_at_once_naming_it_and_its_variable(
    variable: str, listening: int, tmp_path: Path
) -> None:
    # Given every port moved out of the way, and the one under test taken by another program
    ports = {name: str(free_port()) for name in every_port_variable()}
    ports[variable] = str(listening)

    # When toko up starts
    started = time.monotonic()
    result = _toko("up", data_dir=tmp_path, env=ports)

    # Then it refuses in one line that names the port and what moves it, having started nothing
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"port {listening} " in lines[0]
    assert f"set {variable} to another port" in lines[0]
    assert time.monotonic() - started < 20
    assert not (tmp_path / "postgres").exists()
    assert not (tmp_path / "nats").exists()
    assert not processes_mentioning(str(tmp_path))


def test_up_refuses_one_port_given_twice(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in every_port_variable()}
    ports["TOKO_USER_PORT"] = ports["TOKO_PRODUCT_PORT"]

    result = _toko("up", data_dir=tmp_path, env=ports)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"toko: port {ports['TOKO_PRODUCT_PORT']} is given to both product and user "
        "(set TOKO_PRODUCT_PORT or TOKO_USER_PORT to another port)"
    ]


def test_status_with_nothing_running_says_so_in_one_line(tmp_path: Path) -> None:
    result = _toko("status", data_dir=tmp_path)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"toko is not running (data dir {tmp_path.resolve()}); start it with `make up`"
    ]
