"""The embedded servers are real: clients connect, data survives restarts, nothing is left running."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import asyncpg
import nats
import pytest
from redis.asyncio import Redis

from toko.infra import AlreadyRunningError, InfraConfig, InfraEndpoints, Infrastructure
from toko.infra.postgres import wheel_bin_dir
from toko.infra.testing import alive_pids, processes_mentioning


def _asyncpg_dsn(endpoints: InfraEndpoints) -> str:
    return endpoints.libpq_url


async def test_each_server_answers_a_real_client(infrastructure: InfraEndpoints) -> None:
    conn = await asyncpg.connect(_asyncpg_dsn(infrastructure))
    try:
        assert await conn.fetchval("SELECT 1") == 1
        assert "PostgreSQL 18" in await conn.fetchval("SELECT version()")
    finally:
        await conn.close()

    client = await nats.connect(infrastructure.nats_url)
    try:
        info = await client.jetstream().account_info()
        assert info.limits is not None
    finally:
        await client.close()

    redis = Redis.from_url(infrastructure.redis_url)
    try:
        assert await redis.ping() is True
    finally:
        await redis.aclose()


def test_pgbench_runs_against_the_embedded_server(infrastructure: InfraEndpoints) -> None:
    init = subprocess.run(
        infrastructure.pgbench_command("-i", "-s", "1", "-q"), capture_output=True, check=False, text=True
    )
    assert init.returncode == 0, init.stderr
    bench = subprocess.run(
        infrastructure.pgbench_command("-S", "-T", "1", "-c", "2"),
        capture_output=True,
        check=False,
        text=True,
    )
    assert bench.returncode == 0, bench.stderr
    assert "tps" in bench.stdout


async def _write_and_read(endpoints: InfraEndpoints, create: bool) -> list[str]:
    conn = await asyncpg.connect(endpoints.libpq_url)
    try:
        if create:
            await conn.execute("CREATE TABLE kept (note text)")
            await conn.execute("INSERT INTO kept VALUES ('survives restarts')")
        rows = await conn.fetch("SELECT note FROM kept")
    finally:
        await conn.close()
    client = await nats.connect(endpoints.nats_url)
    try:
        js = client.jetstream()
        if create:
            await js.add_stream(name="KEPT", subjects=["kept.>"])
            await js.publish("kept.one", b"hello")
        stream = await js.stream_info("KEPT")
        assert stream.state.messages == 1
    finally:
        await client.close()
    return [row["note"] for row in rows]


def test_data_is_kept_across_restarts_and_no_process_is_left(tmp_path: Path) -> None:
    infra = Infrastructure(InfraConfig.for_tests(tmp_path))
    try:
        endpoints = infra.start()
        pids = infra.pids()
        assert len(pids) == 3
        assert asyncio.run(_write_and_read(endpoints, create=True)) == ["survives restarts"]
        pgdata = str(infra.postgres.pgdata) if infra.postgres else ""
    finally:
        infra.stop()
    assert alive_pids(pids) == []
    assert processes_mentioning(str(tmp_path)) == []
    assert processes_mentioning(pgdata) == []

    again = Infrastructure(InfraConfig.for_tests(tmp_path))
    try:
        endpoints = again.start()
        assert asyncio.run(_write_and_read(endpoints, create=False)) == ["survives restarts"]
        pids = again.pids()
    finally:
        again.stop()
        again.discard_data()
    assert alive_pids(pids) == []


def test_a_second_instance_on_the_same_data_dir_is_refused(tmp_path: Path) -> None:
    config = InfraConfig(data_dir=tmp_path, database_url="postgresql://x@/x", nats_url="", redis_url="")
    # Lock only: the first instance needs no servers for this test, so take the lock directly.
    first = Infrastructure(config)
    first.layout.ensure()
    first._lock.acquire()
    try:
        with pytest.raises(AlreadyRunningError, match=rf"already running \(pid {os.getpid()}\)"):
            Infrastructure(InfraConfig.for_tests(tmp_path)).start()

        toko = Path(sys.executable).with_name("toko")
        result = subprocess.run(
            [str(toko), "up"],
            env=os.environ | {"TOKO_DATA_DIR": str(tmp_path)},
            capture_output=True,
            check=False,
            text=True,
            timeout=30,
        )
        assert result.returncode == 1
        assert f"toko is already running (pid {os.getpid()}), see `toko status`" in result.stderr
    finally:
        first._lock.release()


def test_external_servers_are_only_checked(infrastructure: InfraEndpoints, tmp_path: Path) -> None:
    config = InfraConfig(
        data_dir=tmp_path,
        database_url=infrastructure.database_url,
        nats_url=infrastructure.nats_url,
        redis_url=infrastructure.redis_url,
    )
    with Infrastructure(config) as infra:
        assert infra.pids() == []
        assert infra.endpoints.database_url == infrastructure.database_url
        assert infra.endpoints.libpq_url == infrastructure.libpq_url
    assert not (tmp_path / "postgres").exists()


def test_postgres_client_tools_come_from_the_wheel(infrastructure: InfraEndpoints) -> None:
    assert Path(infrastructure.pg_tool("psql")).parent == wheel_bin_dir()
    out = subprocess.run(
        infrastructure.psql_command("-tAc", "SELECT current_user"), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "postgres"


def test_a_long_data_dir_gets_a_short_socket_dir(tmp_path: Path) -> None:
    long_dir = Path(tempfile.mkdtemp(prefix="toko-" + "x" * 90, dir="/var/tmp"))
    long_dir.chmod(0o755)  # traversable, so PostgreSQL keeps its cluster inside even as root
    infra = Infrastructure(InfraConfig.for_tests(long_dir))
    try:
        endpoints = infra.start()
        assert infra.postgres is not None
        assert infra.postgres.pgdata == long_dir / "postgres"
        assert str(infra.postgres.socket_dir).startswith("/tmp/toko-pg-")
        assert asyncio.run(_select_one(endpoints)) == 1
    finally:
        infra.stop()
        infra.discard_data()
        shutil.rmtree(long_dir)


async def _select_one(endpoints: InfraEndpoints) -> int:
    conn = await asyncpg.connect(endpoints.libpq_url)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()
