"""Refresh tokens, the access tokens of user grants, and revoking them (``TokenRepository``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, select, update

from toko.services.auth.domain import RefreshToken
from toko.services.auth.repository.common import SessionRepository
from toko.services.auth.repository.tables import access_tokens, authorization_codes, refresh_tokens


def _refresh(row: Row[Any]) -> RefreshToken:
    return RefreshToken(
        token_hash=row.token_hash,
        family_id=row.family_id,
        client_id=row.client_id,
        user_id=row.user_id,
        scope=tuple(row.scope),
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        used_at=row.used_at,
        revoked_at=row.revoked_at,
    )


class TokenRepository(SessionRepository):
    """Refresh tokens and access-token records in one session."""

    async def add_refresh_token(self, token: RefreshToken) -> None:
        """Store an issued refresh token."""
        await self._session.execute(
            refresh_tokens.insert().values(
                token_hash=token.token_hash,
                family_id=token.family_id,
                client_id=token.client_id,
                user_id=token.user_id,
                scope=list(token.scope),
                auth_time=token.auth_time,
                created_at=func.now(),
                expires_at=token.expires_at,
            )
        )

    async def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """A refresh token whatever its state."""
        row = (
            await self._session.execute(
                select(refresh_tokens).where(refresh_tokens.c.token_hash == token_hash)
            )
        ).first()
        return _refresh(row) if row else None

    async def rotate_refresh_token(self, token_hash: str, now: datetime) -> RefreshToken | None:
        """Mark a usable token used and return it; None when it was not usable (reuse, revoked, expired)."""
        row = (
            await self._session.execute(
                update(refresh_tokens)
                .where(
                    refresh_tokens.c.token_hash == token_hash,
                    refresh_tokens.c.used_at.is_(None),
                    refresh_tokens.c.revoked_at.is_(None),
                    refresh_tokens.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(*refresh_tokens.c)
            )
        ).first()
        return _refresh(row) if row else None

    async def record_access_token(
        self, *, jti: str, family_id: str, client_id: str, user_id: str, expires_at: datetime
    ) -> None:
        """Remember an access token of a user grant, so revoking the grant can deny-list it."""
        await self._session.execute(
            access_tokens.insert().values(
                jti=jti, family_id=family_id, client_id=client_id, user_id=user_id, expires_at=expires_at
            )
        )

    async def revoke_families(
        self,
        now: datetime,
        *,
        family_id: str | None = None,
        user_id: str | None = None,
        client_id: str | None = None,
    ) -> list[tuple[str, datetime]]:
        """Revoke the refresh tokens of a family, a user or a client; return their live access tokens."""
        tokens = update(refresh_tokens).where(refresh_tokens.c.revoked_at.is_(None)).values(revoked_at=now)
        live = select(access_tokens.c.jti, access_tokens.c.expires_at).where(access_tokens.c.expires_at > now)
        if family_id is not None:
            tokens = tokens.where(refresh_tokens.c.family_id == family_id)
            live = live.where(access_tokens.c.family_id == family_id)
        elif user_id is not None:
            tokens = tokens.where(refresh_tokens.c.user_id == user_id)
            live = live.where(access_tokens.c.user_id == user_id)
        elif client_id is not None:
            tokens = tokens.where(refresh_tokens.c.client_id == client_id)
            live = live.where(access_tokens.c.client_id == client_id)
        else:
            raise ValueError("name a family, a user or a client")
        await self._session.execute(tokens)
        return [(row.jti, row.expires_at) for row in await self._session.execute(live)]

    async def live_access_tokens(self, now: datetime, *, user_id: str) -> list[tuple[str, datetime]]:
        """The access tokens of a user that have not expired yet, as ``(jti, expires_at)``."""
        result = await self._session.execute(
            select(access_tokens.c.jti, access_tokens.c.expires_at).where(
                access_tokens.c.user_id == user_id, access_tokens.c.expires_at > now
            )
        )
        return [(row.jti, row.expires_at) for row in result]

    async def purge_expired(self, now: datetime) -> None:
        """Delete codes, refresh tokens and access-token records past their lifetime."""
        await self._session.execute(delete(authorization_codes).where(authorization_codes.c.expires_at < now))
        await self._session.execute(delete(refresh_tokens).where(refresh_tokens.c.expires_at < now))
        await self._session.execute(delete(access_tokens).where(access_tokens.c.expires_at < now))
