"""The development admin token: generated once per data directory, readable only by its owner."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def ensure_dev_admin_token(path: Path) -> str:
    """Read the token, creating it (mode 0600) with `secrets.token_urlsafe(32)` on first use."""
    with contextlib.suppress(FileNotFoundError):
        if token := path.read_text().strip():
            return token
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    # O_EXCL: if two processes race, exactly one writes and the other reads its token.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token
