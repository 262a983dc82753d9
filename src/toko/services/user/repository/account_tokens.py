"""Single-use tokens of an account: email verification and password reset (``AccountTokenRepository``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import account_tokens
from toko.services.user.tokens import TokenPurpose


class AccountTokenRepository(SessionRepository):
    """Digests of the single-use tokens sent by email, in one session."""

    async def add_token(
        self, *, digest: str, user_id: str, purpose: TokenPurpose, expires_at: datetime, now: datetime
    ) -> None:
        """Store a token's digest."""
        await self._session.execute(
            insert(account_tokens).values(
                digest=digest, user_id=user_id, purpose=purpose.value, expires_at=expires_at, created_at=now
            )
        )

    async def use_token(self, *, digest: str, purpose: TokenPurpose, now: datetime) -> str | None:
        """Consume an unused, unexpired token; the account it belongs to, or None."""
        used = await self._session.execute(
            update(account_tokens)
            .where(
                account_tokens.c.digest == digest,
                account_tokens.c.purpose == purpose.value,
                account_tokens.c.used_at.is_(None),
                account_tokens.c.expires_at > now,
            )
            .values(used_at=now)
            .returning(account_tokens.c.user_id)
        )
        owner: str | None = used.scalar_one_or_none()
        return owner

    async def used_token_owner(self, *, digest: str, purpose: TokenPurpose, now: datetime) -> str | None:
        """The account of a token that was used (or voided) and has not expired yet, or None."""
        found = await self._session.execute(
            select(account_tokens.c.user_id).where(
                account_tokens.c.digest == digest,
                account_tokens.c.purpose == purpose.value,
                account_tokens.c.used_at.is_not(None),
                account_tokens.c.expires_at > now,
            )
        )
        owner: str | None = found.scalar_one_or_none()
        return owner

    async def void_tokens(self, *, user_id: str, purpose: TokenPurpose, now: datetime) -> None:
        """Make every outstanding token of ``purpose`` of an account unusable."""
        await self._session.execute(
            update(account_tokens)
            .where(
                account_tokens.c.user_id == user_id,
                account_tokens.c.purpose == purpose.value,
                account_tokens.c.used_at.is_(None),
            )
            .values(used_at=now)
        )
