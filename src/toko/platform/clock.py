"""The one clock of the platform: timezone-aware UTC now.

Use cases take a ``clock`` (``Callable[[], datetime]``) defaulting to ``utcnow`` so that tests
can stand a fixed or moving time in for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
