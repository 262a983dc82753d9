"""Persistence of vouchers and their usages (SQLAlchemy 2.0 Core over asyncpg).

The domain stays plain dataclasses: rows are mapped to and from them here. The repository reads and
writes in the caller's session and never commits; the unit of work does. Vouchers are locked in id
order (``lock``), so two checkouts holding the same vouchers never deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    Row,
    Table,
    Text,
    Uuid,
    and_,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from toko.services.promotion.domain import Usage, UsageState, Voucher, VoucherKind

metadata = MetaData()

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("code", Text),
    Column("name", Text, nullable=False),
    Column("shop_id", Text),
    Column("kind", Text, nullable=False),
    Column("percent_bp", Integer, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("min_spend", BigInteger, nullable=False),
    Column("start_at", DateTime(timezone=True), nullable=False),
    Column("end_at", DateTime(timezone=True), nullable=False),
    Column("total_limit", Integer, nullable=False),
    Column("per_buyer_limit", Integer, nullable=False),
    Column("eligible_shop_ids", ARRAY(Text), nullable=False),
    Column("eligible_category_ids", ARRAY(Text), nullable=False),
    Column("eligible_sku_ids", ARRAY(Text), nullable=False),
    Column("new_buyers_only", Boolean, nullable=False),
    Column("payment_methods", ARRAY(Text), nullable=False),
    Column("auto_apply", Boolean, nullable=False),
    Column("held_count", Integer, nullable=False),
    Column("redeemed_count", Integer, nullable=False),
    Column("ended_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

usages = Table(
    "voucher_usages",
    metadata,
    Column("voucher_id", Uuid(as_uuid=False), primary_key=True),
    Column("checkout_id", Text, primary_key=True),
    Column("buyer_id", Text, nullable=False),
    Column("state", Text, nullable=False),
    Column("expire_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

_COUNTED = (UsageState.HELD.value, UsageState.REDEEMED.value)


def _live(at: datetime) -> Any:
    return and_(
        vouchers.c.start_at <= at,
        vouchers.c.end_at > at,
        or_(vouchers.c.ended_at.is_(None), vouchers.c.ended_at > at),
    )


class PromotionRepository:
    """Vouchers and usages, in the caller's transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, voucher: Voucher) -> bool:
        """Insert a new voucher: False when its code is taken."""
        inserted = await self._session.execute(
            insert(vouchers)
            .values(
                id=voucher.id,
                code=voucher.code or None,
                name=voucher.name,
                shop_id=voucher.shop_id or None,
                kind=voucher.kind.value,
                percent_bp=voucher.percent_bp,
                amount=voucher.amount,
                min_spend=voucher.min_spend,
                start_at=voucher.start_at,
                end_at=voucher.end_at,
                total_limit=voucher.total_limit,
                per_buyer_limit=voucher.per_buyer_limit,
                eligible_shop_ids=sorted(voucher.eligible_shop_ids),
                eligible_category_ids=sorted(voucher.eligible_category_ids),
                eligible_sku_ids=sorted(voucher.eligible_sku_ids),
                new_buyers_only=voucher.new_buyers_only,
                payment_methods=sorted(voucher.payment_methods),
                auto_apply=voucher.auto_apply,
                held_count=0,
                redeemed_count=0,
                created_at=voucher.created_at,
            )
            .on_conflict_do_nothing(
                index_elements=[vouchers.c.code], index_where=vouchers.c.code.is_not(None)
            )
            .returning(vouchers.c.id)
        )
        return inserted.first() is not None

    async def get(self, voucher_id: str, *, for_update: bool = False) -> Voucher | None:
        """The voucher, or None."""
        query = select(vouchers).where(vouchers.c.id == voucher_id)
        row = (await self._session.execute(query.with_for_update() if for_update else query)).first()
        return None if row is None else _voucher(row)

    async def find(self, ids: Sequence[str], codes: Sequence[str]) -> list[Voucher]:
        """The vouchers with these ids or codes."""
        if not ids and not codes:
            return []
        rows = await self._session.execute(
            select(vouchers).where(or_(vouchers.c.id.in_(list(ids)), vouchers.c.code.in_(list(codes))))
        )
        return [_voucher(row) for row in rows]

    async def lock(self, ids: Sequence[str]) -> list[Voucher]:
        """The vouchers with these ids, locked for this transaction, in id order."""
        rows = await self._session.execute(
            select(vouchers)
            .where(vouchers.c.id.in_(sorted(set(ids))))
            .order_by(vouchers.c.id)
            .with_for_update()
        )
        return [_voucher(row) for row in rows]

    async def automatic(self, at: datetime, shop_ids: Sequence[str]) -> list[Voucher]:
        """Auto-applied vouchers live at ``at``: the platform's, and those of ``shop_ids``."""
        rows = await self._session.execute(
            select(vouchers)
            .where(
                vouchers.c.auto_apply,
                _live(at),
                or_(vouchers.c.shop_id.is_(None), vouchers.c.shop_id.in_(list(shop_ids))),
            )
            .order_by(vouchers.c.id)
            .limit(200)
        )
        return [_voucher(row) for row in rows]

    async def live(
        self, at: datetime, *, shop_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[Voucher]:
        """Vouchers a buyer can see at ``at``, ending soonest first, after the page cursor."""
        shops: ColumnElement[bool] = vouchers.c.shop_id.is_(None)
        if shop_id:
            shops = or_(shops, vouchers.c.shop_id == shop_id)
        query = select(vouchers).where(
            _live(at),
            shops,
            or_(vouchers.c.code.is_not(None), vouchers.c.auto_apply),
            or_(
                vouchers.c.total_limit == 0,
                vouchers.c.held_count + vouchers.c.redeemed_count < vouchers.c.total_limit,
            ),
        )
        if after is not None:
            query = query.where(tuple_(vouchers.c.end_at, vouchers.c.id) > tuple_(*after))
        rows = await self._session.execute(query.order_by(vouchers.c.end_at, vouchers.c.id).limit(limit))
        return [_voucher(row) for row in rows]

    async def end(self, voucher_id: str, at: datetime) -> None:
        """Mark the voucher ended at ``at``."""
        await self._session.execute(update(vouchers).where(vouchers.c.id == voucher_id).values(ended_at=at))

    async def count(self, voucher_id: str, *, held: int = 0, redeemed: int = 0) -> None:
        """Move the voucher's usage counters (the voucher is locked by the caller)."""
        await self._session.execute(
            update(vouchers)
            .where(vouchers.c.id == voucher_id)
            .values(
                held_count=vouchers.c.held_count + held, redeemed_count=vouchers.c.redeemed_count + redeemed
            )
        )

    async def buyer_usages(self, buyer_id: str, voucher_ids: Sequence[str]) -> dict[str, int]:
        """How many usages (held or redeemed) the buyer has of each voucher."""
        if not voucher_ids:
            return {}
        rows = await self._session.execute(
            select(usages.c.voucher_id, func.count())
            .where(
                usages.c.buyer_id == buyer_id,
                usages.c.voucher_id.in_(list(voucher_ids)),
                usages.c.state.in_(_COUNTED),
            )
            .group_by(usages.c.voucher_id)
        )
        return {str(voucher_id): count for voucher_id, count in rows}

    async def usages_of(self, checkout_id: str, *, for_update: bool = False) -> list[Usage]:
        """The checkout's usages, by voucher id."""
        query = select(usages).where(usages.c.checkout_id == checkout_id).order_by(usages.c.voucher_id)
        rows = await self._session.execute(query.with_for_update() if for_update else query)
        return [_usage(row) for row in rows]

    async def add_usages(self, held: Sequence[Usage], now: datetime) -> None:
        """Insert new held usages."""
        await self._session.execute(
            insert(usages),
            [
                {
                    "voucher_id": usage.voucher_id,
                    "checkout_id": usage.checkout_id,
                    "buyer_id": usage.buyer_id,
                    "state": usage.state.value,
                    "expire_at": usage.expire_at,
                    "created_at": now,
                    "changed_at": now,
                }
                for usage in held
            ],
        )

    async def set_state(self, checkout_id: str, state: UsageState, now: datetime) -> None:
        """Move every held usage of the checkout to ``state``."""
        await self._session.execute(
            update(usages)
            .where(usages.c.checkout_id == checkout_id, usages.c.state == UsageState.HELD.value)
            .values(state=state.value, changed_at=now)
        )

    async def lapsed_checkouts(self, now: datetime, limit: int) -> list[str]:
        """Checkouts with held usages past their expiry, claimed for this transaction (others skip them)."""
        rows = await self._session.execute(
            select(usages.c.checkout_id)
            .where(usages.c.state == UsageState.HELD.value, usages.c.expire_at <= now)
            .order_by(usages.c.expire_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return sorted({row.checkout_id for row in rows})

    async def next_lapse(self) -> datetime | None:
        """When the earliest held usage lapses, or None."""
        due: datetime | None = (
            await self._session.execute(
                select(func.min(usages.c.expire_at)).where(usages.c.state == UsageState.HELD.value)
            )
        ).scalar_one()
        return due


def _voucher(row: Row[Any]) -> Voucher:
    return Voucher(
        id=str(row.id),
        name=row.name,
        kind=VoucherKind(row.kind),
        start_at=row.start_at,
        end_at=row.end_at,
        created_at=row.created_at,
        code=row.code or "",
        shop_id=row.shop_id or "",
        percent_bp=row.percent_bp,
        amount=row.amount,
        min_spend=row.min_spend,
        total_limit=row.total_limit,
        per_buyer_limit=row.per_buyer_limit,
        eligible_shop_ids=frozenset(row.eligible_shop_ids),
        eligible_category_ids=frozenset(row.eligible_category_ids),
        eligible_sku_ids=frozenset(row.eligible_sku_ids),
        new_buyers_only=row.new_buyers_only,
        payment_methods=frozenset(row.payment_methods),
        auto_apply=row.auto_apply,
        held_count=row.held_count,
        redeemed_count=row.redeemed_count,
        ended_at=row.ended_at,
    )


def _usage(row: Row[Any]) -> Usage:
    return Usage(
        voucher_id=str(row.voucher_id),
        checkout_id=row.checkout_id,
        buyer_id=row.buyer_id,
        state=UsageState(row.state),
        expire_at=row.expire_at,
    )
