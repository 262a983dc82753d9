"""Persistence of carts and their lines (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The repository reads and
writes in the caller's session and never commits; the unit of work does.

All row locking of the service lives here. Every write to a cart first takes its ``carts`` row
(``lock_guest`` / ``lock_buyer``, which also touch ``updated_at``), so the writes to one cart run one
after the other: a count of its lines stays true until the commit (the 100-line cap), and positions
are handed out without gaps or twins. The quantity of a line still only ever moves in SQL
(``quantity + n``), never read into Python and written back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    Table,
    Text,
    Uuid,
    and_,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.cart.domain import MAX_QUANTITY, Cart, Line, Money

metadata = MetaData()

carts = Table(
    "carts",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("buyer_id", Text, nullable=True, unique=True),
    Column("guest_token_hash", LargeBinary, nullable=True, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
)

cart_lines = Table(
    "cart_lines",
    metadata,
    Column("cart_id", Uuid(as_uuid=False), ForeignKey("carts.id", ondelete="CASCADE"), primary_key=True),
    Column("sku_id", Uuid(as_uuid=False), primary_key=True),
    Column("shop_id", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("note", Text, nullable=False),
    Column("selected", Boolean, nullable=False),
    Column("seen_unit_amount", BigInteger, nullable=True),
    Column("seen_unit_currency", Text, nullable=True),
    Column("seen_price_source", Text, nullable=False),
    Column("added_at", DateTime(timezone=True), nullable=False),
    Column("position", Integer, nullable=False),
)


class CartRepository:
    """Carts and their lines, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    # --- finding and locking a cart --------------------------------------------------------------------

    async def add_guest(
        self, *, cart_id: str, token_hash: bytes, now: datetime, expires_at: datetime
    ) -> None:
        """Insert a new, empty guest cart."""
        await self._session.execute(
            carts.insert().values(
                id=cart_id, guest_token_hash=token_hash, created_at=now, updated_at=now, expires_at=expires_at
            )
        )

    async def guest_cart_id(self, token_hash: bytes, now: datetime) -> str | None:
        """The id of the unexpired guest cart of ``token_hash``, or None."""
        found = await self._session.execute(
            select(carts.c.id).where(carts.c.guest_token_hash == token_hash, carts.c.expires_at > now)
        )
        return _id(found.scalar_one_or_none())

    async def buyer_cart_id(self, buyer_id: str) -> str | None:
        """The id of the buyer's cart, or None before its first use."""
        found = await self._session.execute(select(carts.c.id).where(carts.c.buyer_id == buyer_id))
        return _id(found.scalar_one_or_none())

    async def lock_guest(self, token_hash: bytes, *, now: datetime, expires_at: datetime) -> str | None:
        """Lock the unexpired guest cart of ``token_hash`` for a change, and push its expiry back; its id."""
        touched = await self._session.execute(
            update(carts)
            .where(carts.c.guest_token_hash == token_hash, carts.c.expires_at > now)
            .values(updated_at=now, expires_at=expires_at)
            .returning(carts.c.id)
        )
        return _id(touched.scalar_one_or_none())

    async def lock_buyer(self, buyer_id: str, *, new_cart_id: str, now: datetime) -> str:
        """Lock the buyer's cart for a change, creating it on first use; its id."""
        statement = insert(carts).values(id=new_cart_id, buyer_id=buyer_id, created_at=now, updated_at=now)
        # DO UPDATE (not DO NOTHING) so that the row is returned and locked either way; two first uses at
        # once meet at the unique buyer_id, and the second waits for the first's commit.
        touched = await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[carts.c.buyer_id], set_={"updated_at": statement.excluded.updated_at}
            ).returning(carts.c.id)
        )
        return str(touched.scalar_one())

    async def get(self, cart_id: str) -> Cart:
        """A cart with its lines in the order they were added."""
        row = (await self._session.execute(select(carts).where(carts.c.id == cart_id))).one()
        lines = await self._session.execute(
            select(cart_lines).where(cart_lines.c.cart_id == cart_id).order_by(cart_lines.c.position)
        )
        return Cart(
            id=str(row.id),
            buyer_id=row.buyer_id or "",
            updated_at=row.updated_at,
            expires_at=row.expires_at,
            lines=tuple(_line(line) for line in lines),
        )

    async def delete(self, cart_id: str) -> None:
        """Delete a cart and its lines."""
        await self._session.execute(delete(carts).where(carts.c.id == cart_id))

    # --- lines (the cart's row locked by the caller) --------------------------------------------------

    async def add_line(self, cart_id: str, line: Line) -> bool:
        """Put ``line`` in the cart, or add its quantity to the SKU's line (and select it again).

        False, and nothing changed, when the sum would be above ``MAX_QUANTITY``. The note replaces
        the line's only when one is given; the price seen becomes the new line's.
        """
        statement = insert(cart_lines).values(
            **_line_values(cart_id, line),
            position=select(func.coalesce(func.max(cart_lines.c.position), 0) + 1)
            .where(cart_lines.c.cart_id == cart_id)
            .scalar_subquery(),
        )
        new = statement.excluded
        merged = await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[cart_lines.c.cart_id, cart_lines.c.sku_id],
                set_={
                    "quantity": cart_lines.c.quantity + new.quantity,
                    "note": func.coalesce(func.nullif(new.note, ""), cart_lines.c.note),
                    "selected": True,
                    "seen_unit_amount": new.seen_unit_amount,
                    "seen_unit_currency": new.seen_unit_currency,
                    "seen_price_source": new.seen_price_source,
                },
                where=cart_lines.c.quantity + new.quantity <= MAX_QUANTITY,
            ).returning(cart_lines.c.sku_id)
        )
        return merged.first() is not None

    async def update_line(self, cart_id: str, sku_id: str, values: dict[str, Any]) -> bool:
        """Set columns of one line; False when the cart has no line of ``sku_id``."""
        changed = await self._session.execute(
            update(cart_lines)
            .where(cart_lines.c.cart_id == cart_id, cart_lines.c.sku_id == sku_id)
            .values(**values)
            .returning(cart_lines.c.sku_id)
        )
        return changed.first() is not None

    async def remove_line(self, cart_id: str, sku_id: str) -> None:
        """Take the SKU's line out of the cart, if there is one."""
        await self._session.execute(
            delete(cart_lines).where(cart_lines.c.cart_id == cart_id, cart_lines.c.sku_id == sku_id)
        )

    async def take_out(self, cart_id: str, bought: dict[str, int]) -> int:
        """Take ``bought`` quantities off the cart's lines of those SKUs, removing a line taken to zero
        (a line added to after the checkout keeps the rest); how many lines changed."""
        if not bought:
            return 0
        changed = 0
        for sku_id, quantity in sorted(bought.items()):
            line = (cart_lines.c.cart_id == cart_id) & (cart_lines.c.sku_id == sku_id)
            removed = await self._session.execute(
                delete(cart_lines)
                .where(line, cart_lines.c.quantity <= quantity)
                .returning(cart_lines.c.sku_id)
            )
            if removed.first() is None:
                reduced = await self._session.execute(
                    update(cart_lines)
                    .where(line)
                    .values(quantity=cart_lines.c.quantity - quantity)
                    .returning(cart_lines.c.sku_id)
                )
                if reduced.first() is None:
                    continue
            changed += 1
        return changed

    async def select_lines(
        self, cart_id: str, *, selected: bool, sku_ids: Sequence[str] = (), shop_id: str = ""
    ) -> None:
        """Select or unselect the lines of ``sku_ids``, of ``shop_id``, or (neither given) every line."""
        which = [cart_lines.c.cart_id == cart_id]
        if sku_ids:
            which.append(cart_lines.c.sku_id.in_(list(sku_ids)))
        if shop_id:
            which.append(cart_lines.c.shop_id == shop_id)
        await self._session.execute(update(cart_lines).where(and_(*which)).values(selected=selected))

    async def set_seen_prices(self, cart_id: str, seen: dict[str, tuple[Money, str]]) -> None:
        """Record the unit price (and its source) each SKU's line shows now as the one the buyer saw."""
        for sku_id, (price, source) in seen.items():
            await self.update_line(
                cart_id,
                sku_id,
                {
                    "seen_unit_amount": price.amount,
                    "seen_unit_currency": price.currency,
                    "seen_price_source": source,
                },
            )

    async def replace_lines(self, cart_id: str, lines: Iterable[Line]) -> None:
        """Make the cart's lines exactly ``lines`` (a merge's result)."""
        await self._session.execute(delete(cart_lines).where(cart_lines.c.cart_id == cart_id))
        rows = [{**_line_values(cart_id, line), "position": line.position} for line in lines]
        if rows:
            await self._session.execute(cart_lines.insert().values(rows))

    # --- expiry --------------------------------------------------------------------------------------

    async def delete_expired(self, now: datetime, limit: int) -> int:
        """Delete up to ``limit`` guest carts past their expiry; how many.

        ``SKIP LOCKED``: a cart another replica's pass, or a change in flight, holds is left for later
        (a change pushes its expiry back anyway).
        """
        due = (
            select(carts.c.id)
            .where(carts.c.expires_at <= now)
            .order_by(carts.c.expires_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        deleted = await self._session.execute(delete(carts).where(carts.c.id.in_(due)).returning(carts.c.id))
        return len(deleted.all())

    async def next_expiry(self) -> datetime | None:
        """When the next guest cart expires, or None without guest carts."""
        found = await self._session.execute(
            select(func.min(carts.c.expires_at)).where(carts.c.expires_at.is_not(None))
        )
        value: datetime | None = found.scalar_one()
        return value


def _id(value: object) -> str | None:
    return None if value is None else str(value)


def _line_values(cart_id: str, line: Line) -> dict[str, Any]:
    return {
        "cart_id": cart_id,
        "sku_id": line.sku_id,
        "shop_id": line.shop_id,
        "quantity": line.quantity,
        "note": line.note,
        "selected": line.selected,
        "seen_unit_amount": None if line.seen_price is None else line.seen_price.amount,
        "seen_unit_currency": None if line.seen_price is None else line.seen_price.currency,
        "seen_price_source": line.seen_source,
        "added_at": line.added_at,
    }


def _line(row: Row[Any]) -> Line:
    seen = None
    if row.seen_unit_amount is not None:
        seen = Money(amount=row.seen_unit_amount, currency=row.seen_unit_currency)
    return Line(
        sku_id=str(row.sku_id),
        shop_id=row.shop_id,
        quantity=row.quantity,
        note=row.note,
        selected=row.selected,
        seen_price=seen,
        seen_source=row.seen_price_source,
        added_at=row.added_at,
        position=row.position,
    )
