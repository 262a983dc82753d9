"""The scopes each user granted each client (``ConsentRepository``)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert

from toko.services.auth.repository.common import SessionRepository
from toko.services.auth.repository.tables import consents


class ConsentRepository(SessionRepository):
    """Consents in one session."""

    async def get_consent(self, user_id: str, client_id: str) -> tuple[str, ...]:
        """The scopes the user already granted the client (empty when none)."""
        row = (
            await self._session.execute(
                select(consents.c.scopes).where(
                    consents.c.user_id == user_id, consents.c.client_id == client_id
                )
            )
        ).first()
        return tuple(row.scopes) if row else ()

    async def remember_consent(self, user_id: str, client_id: str, scopes: Sequence[str]) -> None:
        """Remember (adding to what was granted before) the scopes the user granted the client."""
        statement = insert(consents).values(
            user_id=user_id, client_id=client_id, scopes=sorted(set(scopes)), updated_at=func.now()
        )
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[consents.c.user_id, consents.c.client_id],
                set_={
                    "scopes": text(
                        "ARRAY(SELECT DISTINCT unnest(consents.scopes || excluded.scopes) ORDER BY 1)"
                    ),
                    "updated_at": func.now(),
                },
            )
        )
