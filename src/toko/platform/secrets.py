"""A service's master secret and what is sealed with it.

Each service that keeps secrets in its database (auth's signing keys, user's TOTP
secrets) seals them with AES-256-GCM under a key derived by HKDF-SHA256 from the
service's master secret. The master secret is 32 random bytes in
``<data dir>/<service>/secret.key``, created on first start with mode 0600 and
never written to the database, so a dump of the database alone reveals none of
them. Every sealed value is bound to what it belongs to (associated data: a key
id, a user id), so a value copied onto another row does not open.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_SECRET_BYTES = 32
_NONCE_BYTES = 12


def secret_file(data_dir: Path, service: str) -> Path:
    """Where ``service`` keeps its master secret."""
    return data_dir / service / "secret.key"


def load_master_secret(data_dir: Path, service: str) -> bytes:
    """The master secret of ``service``, created (mode 0600) on first use."""
    path = secret_file(data_dir, service)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: two processes starting together must not both write a different secret.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_bytes()
        if len(secret) < _SECRET_BYTES:
            raise RuntimeError(f"{path} is damaged: expected {_SECRET_BYTES} bytes") from None
        return secret[:_SECRET_BYTES]
    with os.fdopen(descriptor, "wb") as file:
        secret = secrets.token_bytes(_SECRET_BYTES)
        file.write(secret)
    return secret


def derive_key(master: bytes, service: str, purpose: str) -> bytes:
    """A 256-bit key for one purpose of ``service``, derived from its master secret (HKDF-SHA256)."""
    info = f"toko-{service} {purpose}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master)


@dataclass(frozen=True)
class Sealer:
    """Seals small secrets at rest (AES-256-GCM), each bound to what it belongs to."""

    key: bytes

    def seal(self, owner: str, plaintext: bytes) -> bytes:
        """Nonce followed by ciphertext and tag; opens only for the same ``owner``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, owner.encode())

    def open(self, owner: str, sealed: bytes) -> bytes:
        """The plaintext; raises ``cryptography.exceptions.InvalidTag`` if altered or not ``owner``'s."""
        return AESGCM(self.key).decrypt(sealed[:_NONCE_BYTES], sealed[_NONCE_BYTES:], owner.encode())
