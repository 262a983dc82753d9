"""The second factor: an account's TOTP secret and its recovery codes (``TotpRepository``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert

from toko.services.user.repository.common import SessionRepository
from toko.services.user.repository.tables import recovery_codes, users


@dataclass(frozen=True)
class TotpState:
    """An account's second factor: its secret (pending or enabled) and the last time step used."""

    secret: str | None
    enabled: bool
    last_step: int


class TotpRepository(SessionRepository):
    """TOTP secrets and recovery codes in one session."""

    async def totp_state(self, user_id: str, *, for_update: bool = False) -> TotpState | None:
        """A live account's second factor."""
        query = select(users.c.totp_secret, users.c.totp_enabled, users.c.totp_last_step).where(
            users.c.id == user_id, users.c.deleted_at.is_(None)
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).one_or_none()
        return None if row is None else TotpState(row.totp_secret, row.totp_enabled, row.totp_last_step)

    async def unsealed_totp_secrets(self, sealed_prefix: str) -> list[tuple[str, str]]:
        """(user id, secret) of the TOTP secrets not stored sealed, locked for sealing them."""
        query = (
            select(users.c.id, users.c.totp_secret)
            .where(
                users.c.totp_secret.is_not(None),
                ~users.c.totp_secret.startswith(sealed_prefix, autoescape=True),
            )
            .with_for_update()
        )
        return [(str(row.id), row.totp_secret) for row in await self._session.execute(query)]

    async def replace_recovery_codes(self, user_id: str, digests: Sequence[str]) -> None:
        """Forget an account's recovery codes and store these."""
        await self._session.execute(delete(recovery_codes).where(recovery_codes.c.user_id == user_id))
        if digests:
            await self._session.execute(
                insert(recovery_codes), [{"user_id": user_id, "digest": d} for d in digests]
            )

    async def use_recovery_code(self, user_id: str, digest: str, now: datetime) -> bool:
        """Consume an unused recovery code; whether there was one."""
        used = await self._session.execute(
            update(recovery_codes)
            .where(
                recovery_codes.c.user_id == user_id,
                recovery_codes.c.digest == digest,
                recovery_codes.c.used_at.is_(None),
            )
            .values(used_at=now)
            .returning(recovery_codes.c.digest)
        )
        return used.first() is not None
