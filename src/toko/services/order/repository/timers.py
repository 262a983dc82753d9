"""Durable timers: one row per deadline, claimed when due with ``FOR UPDATE SKIP LOCKED``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.order import domain
from toko.services.order.repository.tables import timers


async def set_timer(
    session: AsyncSession, subject_id: str, action: domain.TimerAction, due_at: datetime
) -> None:
    """Arm a timer (moving it when it was armed already)."""
    statement = insert(timers).values(subject_id=subject_id, action=action.value, due_at=due_at)
    await session.execute(
        statement.on_conflict_do_update(
            constraint="timers_subject_action_key", set_={"due_at": statement.excluded.due_at}
        )
    )


async def clear_timers(
    session: AsyncSession, subject_id: str, actions: Iterable[domain.TimerAction] | None = None
) -> None:
    """Disarm a subject's timers (only ``actions`` when given)."""
    statement = delete(timers).where(timers.c.subject_id == subject_id)
    if actions is not None:
        statement = statement.where(timers.c.action.in_([action.value for action in actions]))
    await session.execute(statement)


async def claim_due(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[int, str, domain.TimerAction]]:
    """Due timers, locked to the caller's transaction (other replicas skip them): (id, subject, action)."""
    rows = (
        await session.execute(
            select(timers.c.id, timers.c.subject_id, timers.c.action)
            .where(timers.c.due_at <= now)
            .order_by(timers.c.due_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    return [(row.id, str(row.subject_id), domain.TimerAction(row.action)) for row in rows]


async def delete_timer(session: AsyncSession, timer_id: int) -> None:
    """Remove a timer that went off."""
    await session.execute(delete(timers).where(timers.c.id == timer_id))


async def next_due(session: AsyncSession) -> datetime | None:
    """When the next timer is due, or None."""
    found: datetime | None = (
        await session.execute(select(timers.c.due_at).order_by(timers.c.due_at).limit(1))
    ).scalar_one_or_none()
    return found


async def deadlines(
    session: AsyncSession, order_ids: list[str]
) -> dict[str, tuple[domain.TimerAction, datetime]]:
    """The next deadline of each order that has one."""
    if not order_ids:
        return {}
    rows = (
        await session.execute(
            select(timers.c.subject_id, timers.c.action, timers.c.due_at)
            .where(timers.c.subject_id.in_(order_ids))
            .order_by(timers.c.due_at)
        )
    ).all()
    found: dict[str, tuple[domain.TimerAction, datetime]] = {}
    for row in rows:
        found.setdefault(str(row.subject_id), (domain.TimerAction(row.action), row.due_at))
    return found
