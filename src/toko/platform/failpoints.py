"""Failpoints: named places where a test makes a process die, to prove a saga survives a crash right there.

``crash_point("order.checkout.stock_reserved")`` does nothing unless ``TOKO_FAILPOINTS_DIR`` is set (only
the end-to-end suite sets it). Then, when a file of that name is in the directory, the file is removed and
the process exits at once with ``os._exit`` — no cleanup, no flush, no answer to the caller, as under
SIGKILL — and the supervisor starts it again. The file goes first, so the restarted process carries on.
A point is placed where a crash is hardest to survive: after a write is committed and before anyone is
told (the idea of ``fail-rs`` and ``gofail``, reduced to what these tests need).
"""

from __future__ import annotations

import os
from pathlib import Path

FAILPOINTS_DIR_ENV = "TOKO_FAILPOINTS_DIR"
# As SIGKILL would leave it (128 + 9), so the supervisor treats it as any crash.
CRASH_STATUS = 137
_DIRECTORY = os.environ.get(FAILPOINTS_DIR_ENV)


def crash_point(name: str) -> None:
    """Die here if a test armed ``name``; otherwise (always, in production) nothing."""
    if _DIRECTORY is None:
        return
    try:
        (Path(_DIRECTORY) / name).unlink()
    except FileNotFoundError:
        return
    os._exit(CRASH_STATUS)


def arm(directory: Path, name: str) -> None:
    """Arm ``name`` for the processes reading ``directory`` (tests)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).touch()


def armed(directory: Path, name: str) -> bool:
    """Whether ``name`` is still armed, i.e. no process has passed it yet (tests)."""
    return (directory / name).exists()
