"""One running toko per data directory: an flock'ed file holding the owner's pid."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from toko.infra.errors import AlreadyRunningError


class InstanceLock:
    """Exclusive, non-blocking lock on `<data_dir>/run/toko.lock`; released on close or process death."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether we hold the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise AlreadyRunningError naming the holder's pid."""
        if self._fd is not None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyRunningError(holder_pid(self._path), str(self._path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (the file stays; an unlocked file means nobody runs)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        os.close(self._fd)
        self._fd = None


def holder_pid(path: Path) -> int | None:
    """Pid written by the lock's current holder, if readable."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def is_locked(path: Path) -> bool:
    """Whether some process holds the lock right now."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False
