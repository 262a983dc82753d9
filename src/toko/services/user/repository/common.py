"""What the user service's repositories share: their session."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession


class SessionRepository:
    """A repository working within one session's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
