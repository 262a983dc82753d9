"""Time-ordered identifiers (UUIDv7): they index well and sort by creation time."""

from __future__ import annotations

import uuid

import uuid_utils

from toko.platform.error_codes import CommonReason
from toko.platform.errors import InvalidArgument


def new_id() -> str:
    """Return a new UUIDv7 as its canonical string."""
    return str(uuid_utils.uuid7())


def is_id(value: str) -> bool:
    """True when ``value`` is a canonical UUID string."""
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


def require_id(value: str, path: str) -> str:
    """``value`` when it is a canonical UUID; INVALID_ARGUMENT ``INVALID_ID`` naming ``path`` otherwise."""
    if not is_id(value):
        raise InvalidArgument.field(path, "must be a UUID", CommonReason.INVALID_ID)
    return value
