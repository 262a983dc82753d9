"""Sealing secrets at rest under a service's master secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from toko.platform.secrets import Sealer, derive_key, load_master_secret, secret_file


def test_the_master_secret_is_made_once_private_and_kept(tmp_path: Path) -> None:
    first = load_master_secret(tmp_path, "user")
    again = load_master_secret(tmp_path, "user")
    other_service = load_master_secret(tmp_path, "auth")

    assert first == again
    assert len(first) == 32
    assert other_service != first
    assert stat.S_IMODE(secret_file(tmp_path, "user").stat().st_mode) == 0o600


def test_a_damaged_master_secret_stops_the_service(tmp_path: Path) -> None:
    path = secret_file(tmp_path, "user")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"short")

    with pytest.raises(RuntimeError, match="damaged"):
        load_master_secret(tmp_path, "user")


def test_sealed_values_open_only_for_their_owner_and_unaltered(tmp_path: Path) -> None:
    master = load_master_secret(tmp_path, "user")
    sealer = Sealer(derive_key(master, "user", "totp-secret encryption"))
    other_purpose = Sealer(derive_key(master, "user", "something else"))
    sealed = sealer.seal("user-1", b"JBSWY3DPEHPK3PXP")
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])

    assert sealer.open("user-1", sealed) == b"JBSWY3DPEHPK3PXP"
    assert b"JBSWY3DPEHPK3PXP" not in sealed
    assert sealer.seal("user-1", b"JBSWY3DPEHPK3PXP") != sealed  # a fresh nonce each time
    for attempt in (
        lambda: sealer.open("user-2", sealed),
        lambda: sealer.open("user-1", altered),
        lambda: other_purpose.open("user-1", sealed),
    ):
        with pytest.raises(InvalidTag):
            attempt()
