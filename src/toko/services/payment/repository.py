"""Persistence of notes (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The
repository reads and writes in the caller's session and never commits; the unit
of work does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, MetaData, Row, Table, Text, Uuid, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.payment.domain import Note

metadata = MetaData()

notes = Table(
    "notes",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("text", Text, nullable=False),
    Column("author_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("seen_at", DateTime(timezone=True), nullable=True),
)


class NoteRepository:
    """Notes, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, note: Note) -> None:
        """Insert a new note."""
        await self._session.execute(
            notes.insert().values(
                id=note.id,
                text=note.text,
                author_id=note.author_id,
                created_at=note.created_at,
                seen_at=note.seen_at,
            )
        )

    async def get(self, note_id: str) -> Note | None:
        """The note, or None."""
        row = (await self._session.execute(select(notes).where(notes.c.id == note_id))).first()
        return None if row is None else _note(row)

    async def mark_seen(self, note_id: str, at: datetime) -> bool:
        """Record when the note was first seen: True the first time, False after (or for no such note)."""
        marked = await self._session.execute(
            update(notes)
            .where(notes.c.id == note_id, notes.c.seen_at.is_(None))
            .values(seen_at=at)
            .returning(notes.c.id)
        )
        return marked.first() is not None


def _note(row: Row[Any]) -> Note:
    return Note(
        id=str(row.id),
        text=row.text,
        author_id=row.author_id,
        created_at=row.created_at,
        seen_at=row.seen_at,
    )
