"""Text no store of ours accepts: the NUL character (U+0000).

NUL is valid UTF-8 and valid in a proto ``string``, but PostgreSQL cannot store it in text
("invalid byte sequence for encoding UTF8: 0x00"), so a request carrying one would fail deep in a
use case. Every RPC's request is checked at the gRPC edge (``nul_violations``, called by the server
interceptor) and every parameter of the auth service's HTTP endpoints as it is parsed, so the client
gets a 400 naming the field instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from toko.platform.error_codes import CommonReason
from toko.platform.errors import FieldViolation

NUL = "\x00"
_DESCRIPTION = "must not contain the NUL character (U+0000)"
_STRING = FieldDescriptor.TYPE_STRING
_MESSAGE = FieldDescriptor.TYPE_MESSAGE


def nul_violations(message: Message, prefix: str = "") -> list[FieldViolation]:
    """The string fields of ``message`` (nested, repeated and map ones included) that hold a NUL."""
    found: list[FieldViolation] = []
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
                    found += nul_violations(item, f"{path}[{i}].")
            else:
                found += nul_violations(value, f"{path}.")
    return found


def _map_violations(path: str, entry: Descriptor, mapping: Mapping[Any, Any]) -> list[FieldViolation]:
    found: list[FieldViolation] = []
    value_field = entry.fields_by_name["value"]
    for key, value in mapping.items():
        where = f"{path}[{key!r}]"
        if isinstance(key, str) and NUL in key:
            found.append(_violation(where))
        if value_field.type == _STRING and NUL in value:
            found.append(_violation(where))
        elif value_field.type == _MESSAGE:
            found += nul_violations(value, f"{where}.")
    return found


def _violation(path: str) -> FieldViolation:
    return FieldViolation(path, _DESCRIPTION, CommonReason.NUL_CHARACTER)
