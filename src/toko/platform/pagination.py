"""Cursor pagination shared by every list RPC (AIP-158: ``page_size``, ``page_token``, ``next_page_token``).

A page token is opaque to clients: URL-safe base64 of a small JSON document
holding the sort key of the last item returned and a fingerprint of the
filters, so a token cannot be replayed against a different query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson

from toko.platform.error_codes import CommonReason
from toko.platform.errors import InvalidArgument
from toko.platform.ids import is_id

T = TypeVar("T")

MAX_TOKEN_LENGTH = 512


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the token of the next (empty on the last)."""

    items: list[T]
    next_page_token: str


@dataclass(frozen=True)
class PageSpec:
    """The page size rule of one list RPC."""

    default: int
    maximum: int

    def size(self, requested: int) -> int:
        """The page size to use; raise on a negative or too large request."""
        if requested == 0:
            return self.default
        if requested < 0 or requested > self.maximum:
            raise InvalidArgument.field(
                "page_size", f"must be between 1 and {self.maximum}", CommonReason.PAGE_SIZE_OUT_OF_RANGE
            )
        return requested


def _fingerprint(filters: Sequence[Any]) -> str:
    return hashlib.blake2s(orjson.dumps(list(filters)), digest_size=6).hexdigest()


def encode_token(last_key: Sequence[Any], filters: Sequence[Any]) -> str:
    """The token of the page after the item whose sort key is ``last_key``."""
    document = {"k": list(last_key), "f": _fingerprint(filters)}
    return base64.urlsafe_b64encode(orjson.dumps(document)).rstrip(b"=").decode()


def decode_token(token: str, filters: Sequence[Any], key_length: int) -> list[Any] | None:
    """The sort key a token continues after; None for the first page; raise when malformed."""
    if not token:
        return None
    invalid = bad_page_token()
    if len(token) > MAX_TOKEN_LENGTH:
        raise invalid
    try:
        document = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, orjson.JSONDecodeError) as exc:
        raise invalid from exc
    if (
        not isinstance(document, dict)
        or document.get("f") != _fingerprint(filters)
        or not isinstance(document.get("k"), list)
        or len(document["k"]) != key_length
        or not all(isinstance(part, str | int) for part in document["k"])
    ):
        raise invalid
    return list(document["k"])


def bad_page_token() -> InvalidArgument:
    """The error of a page token that is malformed, or whose content is not what this listing writes."""
    return InvalidArgument.field(
        "page_token", "is malformed or belongs to another query", CommonReason.INVALID_PAGE_TOKEN
    )


def id_after(token: str, filters: Sequence[Any]) -> str | None:
    """The id a listing keyed by id alone continues after; None for the first page; raise when bad."""
    key = decode_token(token, filters, 1)
    if key is None:
        return None
    if not isinstance(key[0], str) or not is_id(key[0]):
        raise bad_page_token()
    return key[0]
