"""Quotes and checkouts."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.order import domain
from toko.services.order.repository.tables import checkout_quotes, checkouts, orders


async def add_quote(
    session: AsyncSession,
    *,
    quote_id: str,
    buyer_id: str,
    request: dict[str, Any],
    quote: dict[str, Any],
    address: dict[str, Any],
    created_at: datetime,
    expires_at: datetime,
) -> None:
    """Keep a quote so that PlaceCheckout can cite it and price it again."""
    await session.execute(
        insert(checkout_quotes).values(
            id=quote_id,
            buyer_id=buyer_id,
            request=request,
            quote=quote,
            address=address,
            created_at=created_at,
            expires_at=expires_at,
        )
    )


async def get_quote(session: AsyncSession, quote_id: str) -> Row[Any] | None:
    """The quote's row (buyer_id, request, quote, address, expires_at), or None."""
    return (await session.execute(select(checkout_quotes).where(checkout_quotes.c.id == quote_id))).first()


async def delete_lapsed_quotes(session: AsyncSession, before: datetime, limit: int) -> int:
    """Forget quotes that lapsed before ``before`` and were never placed; how many."""
    lapsed = (
        select(checkout_quotes.c.id)
        .where(checkout_quotes.c.expires_at < before)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(delete(checkout_quotes).where(checkout_quotes.c.id.in_(lapsed)))
    return int(getattr(result, "rowcount", 0))


async def add_checkout(
    session: AsyncSession, checkout: domain.Checkout, *, idempotency_key: str | None
) -> bool:
    """Insert a checkout unless its quote (or the buyer's key) has one: whether it was inserted."""
    inserted = await session.execute(
        insert(checkouts)
        .values(
            id=checkout.id,
            buyer_id=checkout.buyer_id,
            quote_id=checkout.quote_id,
            idempotency_key=idempotency_key,
            request_hash=checkout.request_hash,
            state=int(checkout.state),
            step=int(checkout.step),
            quote=checkout.quote,
            address=checkout.address,
            cart_id=checkout.cart_id,
            cancel_reason="",
            lease_until=checkout.lease_until,
            created_at=checkout.created_at,
            updated_at=checkout.updated_at,
            expires_at=checkout.expires_at,
        )
        .on_conflict_do_nothing()
        .returning(checkouts.c.id)
    )
    return inserted.first() is not None


async def find_checkout(
    session: AsyncSession, *, buyer_id: str, quote_id: str, idempotency_key: str | None
) -> domain.Checkout | None:
    """The buyer's checkout of this quote or under this key, if there is one."""
    match = checkouts.c.quote_id == quote_id
    if idempotency_key:
        match = or_(match, checkouts.c.idempotency_key == idempotency_key)
    row = (
        await session.execute(select(checkouts).where(checkouts.c.buyer_id == buyer_id, match).limit(1))
    ).first()
    return None if row is None else await _checkout(session, row)


async def get_checkout(
    session: AsyncSession, checkout_id: str, *, lock: bool = False
) -> domain.Checkout | None:
    """A checkout with its orders' ids; ``lock`` holds its row to the end of the transaction."""
    query = select(checkouts).where(checkouts.c.id == checkout_id)
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else await _checkout(session, row)


async def update_checkout(session: AsyncSession, checkout_id: str, **values: Any) -> None:
    """Set columns of a checkout (state, step, payment…); states and steps as their enums' values."""
    for name in ("state", "step"):
        if name in values:
            values[name] = int(values[name])
    await session.execute(update(checkouts).where(checkouts.c.id == checkout_id).values(**values))


async def advance_step(
    session: AsyncSession, checkout_id: str, step: domain.SagaStep, *, at: datetime, lease_until: datetime
) -> bool:
    """Record a saga step done on a checkout still placing and behind it: whether it was recorded."""
    moved = await session.execute(
        update(checkouts)
        .where(
            checkouts.c.id == checkout_id,
            checkouts.c.state == int(domain.CheckoutState.PLACING),
            checkouts.c.step < int(step),
        )
        .values(step=int(step), updated_at=at, lease_until=lease_until)
        .returning(checkouts.c.id)
    )
    return moved.first() is not None


async def claim_stalled(session: AsyncSession, *, now: datetime, lease: timedelta, limit: int) -> list[str]:
    """Checkouts still placing whose driver is gone (their lease passed), leased to the caller now."""
    claimed = (
        await session.execute(
            select(checkouts.c.id)
            .where(checkouts.c.state == int(domain.CheckoutState.PLACING), checkouts.c.lease_until < now)
            .order_by(checkouts.c.lease_until)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).scalars()
    ids = [str(checkout_id) for checkout_id in claimed]
    if ids:
        await session.execute(
            update(checkouts).where(checkouts.c.id.in_(ids)).values(lease_until=now + lease)
        )
    return ids


async def take_lease(session: AsyncSession, checkout_id: str, *, now: datetime, lease: timedelta) -> bool:
    """Lease a checkout still placing whose lease has passed to the caller: whether it got it."""
    taken = await session.execute(
        update(checkouts)
        .where(
            checkouts.c.id == checkout_id,
            checkouts.c.state == int(domain.CheckoutState.PLACING),
            checkouts.c.lease_until < now,
        )
        .values(lease_until=now + lease)
        .returning(checkouts.c.id)
    )
    return taken.first() is not None


async def next_stalled(session: AsyncSession) -> datetime | None:
    """When the earliest lease of a checkout still placing runs out, or None."""
    found: datetime | None = (
        await session.execute(
            select(checkouts.c.lease_until)
            .where(checkouts.c.state == int(domain.CheckoutState.PLACING))
            .order_by(checkouts.c.lease_until)
            .limit(1)
        )
    ).scalar_one_or_none()
    return found


async def _checkout(session: AsyncSession, row: Row[Any]) -> domain.Checkout:
    order_ids = (
        await session.execute(select(orders.c.id).where(orders.c.checkout_id == row.id).order_by(orders.c.id))
    ).scalars()
    return domain.Checkout(
        id=str(row.id),
        buyer_id=row.buyer_id,
        quote_id=str(row.quote_id),
        state=domain.CheckoutState(row.state),
        step=domain.SagaStep(row.step),
        quote=row.quote,
        address=row.address,
        cart_id=row.cart_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        expires_at=row.expires_at,
        payment=row.payment,
        payment_id=row.payment_id or "",
        cancel_reason=row.cancel_reason,
        request_hash=row.request_hash,
        lease_until=row.lease_until,
        order_ids=tuple(str(order_id) for order_id in order_ids),
    )
