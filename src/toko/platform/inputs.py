"""What no request may carry, checked for every RPC at the gRPC edge before its use case runs.

- The NUL character (U+0000). It is valid UTF-8 and valid in a proto ``string``, but PostgreSQL
  cannot store it in text ("invalid byte sequence for encoding UTF8: 0x00"), so a request carrying
  one would fail deep in a use case. The auth service's HTTP endpoints check their parameters for it
  as they parse them (``NUL``).
- A timestamp outside ``EARLIEST``..``LATEST`` (years 1900 to 2999). A proto ``Timestamp`` reaches
  from year 1 to 9999, which is also all Python's ``datetime`` holds, so a use case adding a
  validity or a time to live to ``9999-12-31T23:59:59Z`` would overflow. No date a marketplace deals
  in lies near either end; the range leaves centuries of room for any arithmetic on it.

``request_violations`` finds both wherever they are (nested, repeated and map fields) and names each
by its field path, so the client gets a 400 naming the field instead of a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from toko.platform.error_codes import CommonReason
from toko.platform.rules import Violation

NUL = "\x00"
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)
_EARLIEST_SECONDS = int(EARLIEST.timestamp())
_LATEST_SECONDS = int(LATEST.timestamp())
_NUL_DESCRIPTION = "must not contain the NUL character (U+0000)"
_TIMESTAMP_DESCRIPTION = f"must lie between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}"
_TIMESTAMP = "google.protobuf.Timestamp"
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def request_violations(message: Message, prefix: str = "") -> list[Violation]:
    """The fields of ``message`` (nested, repeated and map ones included) holding a value no store takes."""
    found: list[Violation] = []
    # Only fields that are set are visited: the common request (an id or two) costs one C call.
    for field, value in message.ListFields():
        path = f"{prefix}{field.name}"
        if field.type == _STRING:
            if field.is_repeated:
                found += [_violation(f"{path}[{i}]") for i, item in enumerate(value) if NUL in item]
            elif NUL in value:
                found.append(_violation(path))
        elif field.type == _MESSAGE:
            entry = field.message_type
            if entry is not None and entry.GetOptions().map_entry:
                found += _map_violations(path, entry, value)
            elif field.is_repeated:
                for i, item in enumerate(value):
                    found += _message_violations(item, f"{path}[{i}]")
            else:
                found += _message_violations(value, path)
    return found


def _map_violations(path: str, entry: Descriptor, mapping: Mapping[Any, Any]) -> list[Violation]:
    found: list[Violation] = []
    value_field = entry.fields_by_name["value"]
    for key, value in mapping.items():
        where = f"{path}[{key!r}]"
        if isinstance(key, str) and NUL in key:
            found.append(_violation(where))
        if value_field.type == _STRING and NUL in value:
            found.append(_violation(where))
        elif value_field.type == _MESSAGE:
            found += _message_violations(value, where)
    return found


def _message_violations(message: Message, path: str) -> list[Violation]:
    if message.DESCRIPTOR.full_name == _TIMESTAMP:
        seconds = message.seconds  # type: ignore[attr-defined]
        if not _EARLIEST_SECONDS <= seconds <= _LATEST_SECONDS:
            return [Violation(path, _TIMESTAMP_DESCRIPTION, CommonReason.TIMESTAMP_OUT_OF_RANGE)]
        return []
    return request_violations(message, f"{path}.")


def _violation(path: str) -> Violation:
    return Violation(path, _NUL_DESCRIPTION, CommonReason.NUL_CHARACTER)
