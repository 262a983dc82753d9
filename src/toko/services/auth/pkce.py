"""Typed wrappers of the Authlib helpers the provider uses (Authlib ships no type information)."""

from __future__ import annotations

from collections.abc import Mapping

from authlib.oauth2.rfc6749.util import extract_basic_authorization  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from authlib.oidc.core.util import create_half_hash  # type: ignore[import-untyped]

from toko.services.auth.domain import SIGNING_ALGORITHM


def s256_challenge(code_verifier: str) -> str:
    """BASE64URL(SHA256(verifier)), the S256 code challenge of RFC 7636 §4.2."""
    return str(create_s256_code_challenge(code_verifier))


def token_half_hash(token: str) -> str:
    """The ``at_hash`` of an access token for an ES256 ID token (OIDC Core §3.1.3.6)."""
    return bytes(create_half_hash(token, SIGNING_ALGORITHM)).decode()


def basic_credentials(headers: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``client_id`` and ``client_secret`` from an HTTP Basic ``Authorization`` header (RFC 6749 §2.3.1)."""
    client_id, secret = extract_basic_authorization(dict(headers))
    return (str(client_id) if client_id else None, str(secret) if secret is not None else None)
