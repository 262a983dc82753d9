"""Errors raised by the launcher and the supervisor."""

from __future__ import annotations


class InfraError(RuntimeError):
    """A server could not be prepared, started or reached."""


class AlreadyRunningError(InfraError):
    """Another toko instance holds the data directory's lock."""

    def __init__(self, pid: int | None, lock_file: str) -> None:
        self.pid = pid
        self.lock_file = lock_file
        who = f"pid {pid}" if pid else "pid unknown"
        super().__init__(f"toko is already running ({who}), see `toko status`")
