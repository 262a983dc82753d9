"""Single-use secrets: email verification and password reset tokens, recovery codes.

A token is 32 random bytes, sent to the user (URL-safe base64) and stored only
as its SHA-256 digest: a leaked database cannot be used to verify an address or
reset a password. SHA-256 without salt is enough because the token has 256
bits of entropy; nothing about it can be guessed.
"""

from __future__ import annotations

import hashlib
import secrets
from enum import StrEnum

TOKEN_BYTES = 32
RECOVERY_CODE_COUNT = 10
# Lowercase letters and digits without look-alikes (no 0/o, 1/l/i), in groups a person can copy.
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


class TokenPurpose(StrEnum):
    """What a token proves."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password


def new_token() -> str:
    """A fresh token to send to the user."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The stored form of a token (or a recovery code)."""
    return hashlib.sha256(token.strip().encode()).hexdigest()


def new_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """Recovery codes such as ``k7mq-x2pd-r9tw`` (about 59 bits each)."""
    return [
        "-".join("".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(4)) for _ in range(3))
        for _ in range(count)
    ]


def normalise_recovery_code(code: str) -> str:
    """A recovery code as typed, in its canonical form (lowercase, with its dashes)."""
    bare = "".join(ch for ch in code.lower() if ch.isalnum())
    return "-".join(bare[i : i + 4] for i in range(0, len(bare), 4))
