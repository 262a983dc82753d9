"""Persistence of notifications (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The repository reads and
writes in the caller's session and never commits; the unit of work does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Row, Table, Text, Uuid, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.notification.domain import Kind, Notification, Status

metadata = MetaData()

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("event_id", Text, nullable=False, unique=True),
    Column("user_id", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("channel", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("text_body", Text, nullable=True),
    Column("html_body", Text, nullable=True),
    Column("status", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("sent_at", DateTime(timezone=True), nullable=True),
    Column("failed_at", DateTime(timezone=True), nullable=True),
)

EMAIL = "email"


@dataclass(frozen=True)
class Bodies:
    """A pending email's rendered parts."""

    text: str
    html: str


class NotificationRepository:
    """Notifications, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, notification: Notification, bodies: Bodies) -> bool:
        """Insert a pending notification unless its event already made one: True when inserted."""
        inserted = await self._session.execute(
            insert(notifications)
            .values(
                id=notification.id,
                event_id=notification.event_id,
                user_id=notification.user_id,
                kind=notification.kind.value,
                channel=EMAIL,
                recipient=notification.recipient,
                language=notification.language,
                subject=notification.subject,
                text_body=bodies.text,
                html_body=bodies.html,
                status=notification.status.value,
                attempts=notification.attempts,
                last_error=notification.last_error,
                created_at=notification.created_at,
                next_attempt_at=notification.next_attempt_at,
            )
            .on_conflict_do_nothing(index_elements=[notifications.c.event_id])
            .returning(notifications.c.id)
        )
        return inserted.first() is not None

    async def claim_due(self, now: datetime) -> tuple[Notification, Bodies] | None:
        """The pending notification due longest, locked for this transaction; other senders skip it."""
        row = (
            await self._session.execute(
                select(notifications)
                .where(notifications.c.status == Status.PENDING.value, notifications.c.next_attempt_at <= now)
                .order_by(notifications.c.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
        ).first()
        if row is None:
            return None
        return _notification(row), Bodies(text=row.text_body or "", html=row.html_body or "")

    async def record_attempt(self, notification: Notification) -> None:
        """Store how the last attempt ended; a notification no longer pending forgets its bodies."""
        values: dict[str, Any] = {
            "status": notification.status.value,
            "attempts": notification.attempts,
            "last_error": notification.last_error,
            "next_attempt_at": notification.next_attempt_at,
            "sent_at": notification.sent_at,
            "failed_at": notification.failed_at,
        }
        if notification.status is not Status.PENDING:
            values |= {"text_body": None, "html_body": None}
        await self._session.execute(
            update(notifications).where(notifications.c.id == notification.id).values(**values)
        )

    async def next_due(self) -> datetime | None:
        """When the earliest pending notification is due, or None without one."""
        due: datetime | None = (
            await self._session.execute(
                select(func.min(notifications.c.next_attempt_at)).where(
                    notifications.c.status == Status.PENDING.value
                )
            )
        ).scalar_one()
        return due

    async def list_for_user(self, user_id: str, *, before_id: str | None, limit: int) -> list[Notification]:
        """The user's notifications, newest first, after the page cursor ``before_id``."""
        query = select(notifications).where(notifications.c.user_id == user_id)
        if before_id is not None:
            query = query.where(notifications.c.id < before_id)
        rows = await self._session.execute(query.order_by(notifications.c.id.desc()).limit(limit))
        return [_notification(row) for row in rows]


def _notification(row: Row[Any]) -> Notification:
    return Notification(
        id=str(row.id),
        event_id=row.event_id,
        user_id=row.user_id,
        kind=Kind(row.kind),
        recipient=row.recipient,
        language=row.language,
        subject=row.subject,
        created_at=row.created_at,
        status=Status(row.status),
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        failed_at=row.failed_at,
    )
