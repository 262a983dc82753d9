"""The keys tokens are signed with, and their rotation (``SigningKeyRepository``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select, text, update

from toko.services.auth.repository.common import SessionRepository
from toko.services.auth.repository.tables import signing_keys

# Serialises key rotation across replicas, for the length of one transaction.
_ROTATION_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('toko.auth.signing-key-rotation'))")


class SigningKeyRepository(SessionRepository):
    """Signing keys in one session."""

    async def lock_key_rotation(self) -> None:
        """Hold the rotation lock until the transaction ends (one rotation at a time, across replicas)."""
        await self._session.execute(_ROTATION_LOCK)

    async def signing_key_rows(self, now: datetime) -> list[Row[Any]]:
        """Every key still published (or still signing), newest first."""
        query = (
            select(signing_keys)
            .where((signing_keys.c.expires_at.is_(None)) | (signing_keys.c.expires_at > now))
            .order_by(signing_keys.c.created_at.desc())
        )
        return list(await self._session.execute(query))

    async def add_signing_key(
        self,
        *,
        kid: str,
        private_key: bytes,
        public_jwk: dict[str, str],
        created_at: datetime,
        signs_from: datetime,
    ) -> None:
        """Store a new key."""
        await self._session.execute(
            signing_keys.insert().values(
                kid=kid,
                private_key=private_key,
                public_jwk=public_jwk,
                created_at=created_at,
                signs_from=signs_from,
            )
        )

    async def retire_signing_keys(
        self, *, except_kid: str, retired_at: datetime, expires_at: datetime
    ) -> None:
        """Every other key stops signing at ``retired_at`` and stays published until ``expires_at``."""
        await self._session.execute(
            update(signing_keys)
            .where(
                signing_keys.c.kid != except_kid,
                (signing_keys.c.retired_at.is_(None)) | (signing_keys.c.retired_at > retired_at),
            )
            .values(retired_at=retired_at, expires_at=expires_at)
        )

    async def purge_expired_keys(self, now: datetime) -> None:
        """Forget keys nobody can need any more."""
        await self._session.execute(delete(signing_keys).where(signing_keys.c.expires_at <= now))
