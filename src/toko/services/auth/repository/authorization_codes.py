"""Authorization codes, each good once (``AuthorizationCodeRepository``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update

from toko.services.auth.domain import AuthorizationCode
from toko.services.auth.repository.common import SessionRepository
from toko.services.auth.repository.tables import authorization_codes


def _code(row: Row[Any]) -> AuthorizationCode:
    return AuthorizationCode(
        code_hash=row.code_hash,
        client_id=row.client_id,
        user_id=row.user_id,
        redirect_uri=row.redirect_uri,
        scope=tuple(row.scope),
        nonce=row.nonce,
        code_challenge=row.code_challenge,
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        family_id=row.family_id,
        used_at=row.used_at,
    )


class AuthorizationCodeRepository(SessionRepository):
    """Issued authorization codes in one session."""

    async def add_code(self, code: AuthorizationCode) -> None:
        """Store an issued code."""
        await self._session.execute(
            authorization_codes.insert().values(
                code_hash=code.code_hash,
                client_id=code.client_id,
                user_id=code.user_id,
                redirect_uri=code.redirect_uri,
                scope=list(code.scope),
                nonce=code.nonce,
                code_challenge=code.code_challenge,
                auth_time=code.auth_time,
                expires_at=code.expires_at,
                family_id=code.family_id,
            )
        )

    async def consume_code(self, code_hash: str, now: datetime) -> AuthorizationCode | None:
        """Mark the code used and return it; None when unknown or already used (see ``get_code``)."""
        row = (
            await self._session.execute(
                update(authorization_codes)
                .where(authorization_codes.c.code_hash == code_hash, authorization_codes.c.used_at.is_(None))
                .values(used_at=now)
                .returning(*authorization_codes.c)
            )
        ).first()
        return _code(row) if row else None

    async def get_code(self, code_hash: str) -> AuthorizationCode | None:
        """A code whatever its state."""
        row = (
            await self._session.execute(
                select(authorization_codes).where(authorization_codes.c.code_hash == code_hash)
            )
        ).first()
        return _code(row) if row else None
