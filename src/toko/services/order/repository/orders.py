"""Orders and their timelines."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.order import domain
from toko.services.order.repository.tables import order_timeline, orders
from toko.services.order.repository.timers import deadlines


async def add_order(session: AsyncSession, order: domain.Order) -> None:
    """Insert an order (the saga creates each once: its id is derived from the checkout and shop)."""
    await session.execute(
        insert(orders)
        .values(
            id=order.id,
            checkout_id=order.checkout_id,
            buyer_id=order.buyer_id,
            shop_id=order.shop_id,
            state=int(order.state),
            details=order.details,
            address=order.address,
            total=order.total,
            payment_id=order.payment_id or None,
            refunded=0,
            created_at=order.created_at,
            updated_at=order.updated_at,
        )
        .on_conflict_do_nothing()
    )


async def add_timeline(session: AsyncSession, order_id: str, entry: domain.TimelineEntry) -> None:
    """Append one transition to an order's timeline."""
    await session.execute(
        insert(order_timeline).values(
            order_id=order_id,
            state=int(entry.state),
            actor=entry.actor.value,
            actor_id=entry.actor_id,
            reason=entry.reason,
            at=entry.at,
        )
    )


async def move_order(
    session: AsyncSession, order_id: str, state: domain.OrderState, at: datetime, **values: Any
) -> None:
    """Set an order's state (and other columns)."""
    await session.execute(
        update(orders).where(orders.c.id == order_id).values(state=int(state), updated_at=at, **values)
    )


async def set_payment(session: AsyncSession, checkout_id: str, payment_id: str) -> None:
    """Record the checkout's payment on its orders."""
    await session.execute(
        update(orders).where(orders.c.checkout_id == checkout_id).values(payment_id=payment_id)
    )


async def get_order(session: AsyncSession, order_id: str, *, lock: bool = False) -> domain.Order | None:
    """An order with its timeline and deadline; ``lock`` holds its row to the end of the transaction."""
    query = select(orders).where(orders.c.id == order_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return (await _orders(session, [row]))[0]


async def orders_of_checkout(
    session: AsyncSession, checkout_id: str, *, lock: bool = False
) -> list[domain.Order]:
    """A checkout's orders, oldest first."""
    query = select(orders).where(orders.c.checkout_id == checkout_id).order_by(orders.c.id)
    if lock:
        query = query.with_for_update()
    return await _orders(session, list((await session.execute(query)).all()))


async def list_orders(
    session: AsyncSession,
    *,
    buyer_id: str = "",
    shop_id: str = "",
    state: domain.OrderState | None = None,
    before_id: str = "",
    limit: int,
) -> list[domain.Order]:
    """Orders newest first, by buyer and/or shop and state, after a cursor (the last id seen)."""
    query = select(orders).order_by(orders.c.id.desc()).limit(limit)
    if buyer_id:
        query = query.where(orders.c.buyer_id == buyer_id)
    if shop_id:
        query = query.where(orders.c.shop_id == shop_id)
    if state is not None:
        query = query.where(orders.c.state == int(state))
    if before_id:
        query = query.where(orders.c.id < before_id)
    return await _orders(session, list((await session.execute(query)).all()))


async def _orders(session: AsyncSession, rows: list[Row[Any]]) -> list[domain.Order]:
    ids = [str(row.id) for row in rows]
    timelines: dict[str, list[domain.TimelineEntry]] = {order_id: [] for order_id in ids}
    if ids:
        entries = await session.execute(
            select(order_timeline).where(order_timeline.c.order_id.in_(ids)).order_by(order_timeline.c.id)
        )
        for entry in entries:
            timelines[str(entry.order_id)].append(
                domain.TimelineEntry(
                    state=domain.OrderState(entry.state),
                    actor=domain.Actor(entry.actor),
                    actor_id=entry.actor_id,
                    reason=entry.reason,
                    at=entry.at,
                )
            )
    due = await deadlines(session, ids)
    return [
        domain.Order(
            id=str(row.id),
            checkout_id=str(row.checkout_id),
            buyer_id=row.buyer_id,
            shop_id=row.shop_id,
            state=domain.OrderState(row.state),
            details=row.details,
            address=row.address,
            total=row.total,
            created_at=row.created_at,
            updated_at=row.updated_at,
            payment_id=row.payment_id or "",
            shipment_id=row.shipment_id or "",
            waybill=row.waybill or "",
            refunded=row.refunded,
            timeline=tuple(timelines[str(row.id)]),
            deadline=due.get(str(row.id)),
        )
        for row in rows
    ]
