"""Persistence of the payment service (SQLAlchemy 2.0 Core over asyncpg); functions never commit.

All row locking of the service is here: a payment's row is locked while its state changes or a refund
is weighed against what is left, and pending payments past their expiry are claimed with
``FOR UPDATE SKIP LOCKED``. The ledger is append-only (a trigger refuses the rest); captured and
refunded are its sums.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Row,
    SmallInteger,
    Table,
    Text,
    Uuid,
    any_,
    bindparam,
    case,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.ids import is_id
from toko.services.payment import domain

metadata = MetaData()

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("checkout_id", Text, nullable=False, unique=True),
    Column("buyer_id", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("method", SmallInteger, nullable=False),
    Column("provider", Text, nullable=False),
    Column("provider_reference", Text, nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("instructions", JSONB, nullable=False),
    Column("description", Text, nullable=False),
    Column("mobile_number", Text, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("payment_id", Uuid(as_uuid=False), ForeignKey("payments.id"), nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("refund_id", Text),
    Column("reason", Text, nullable=False),
    Column("provider_reference", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    # The provider's time of a capture, when it said one (its report's day); null otherwise.
    Column("settled_at", DateTime(timezone=True)),
)

refunds = Table(
    "refunds",
    metadata,
    Column("payment_id", Uuid(as_uuid=False), ForeignKey("payments.id"), primary_key=True),
    Column("refund_id", Text, primary_key=True),
    Column("amount", BigInteger, nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

reconciliation_mismatches = Table(
    "reconciliation_mismatches",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("provider", Text, nullable=False),
    Column("day", Date, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("provider_reference", Text, nullable=False),
    Column("kind", SmallInteger, nullable=False),
    Column("ledger_amount", BigInteger, nullable=False),
    Column("provider_amount", BigInteger, nullable=False),
    Column("detected_at", DateTime(timezone=True), nullable=False),
)

reconciliation_runs = Table(
    "reconciliation_runs",
    metadata,
    Column("provider", Text, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("mismatches", Integer, nullable=False),
    Column("ran_at", DateTime(timezone=True), nullable=False),
)

provider_notifications = Table(
    "provider_notifications",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("provider", Text, nullable=False),
    Column("dedupe_key", Text, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("payment_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
)


async def add_payment(session: AsyncSession, payment: domain.Payment) -> bool:
    """Insert a payment unless its checkout has one: whether it was inserted."""
    inserted = await session.execute(
        insert(payments)
        .values(
            id=payment.id,
            checkout_id=payment.checkout_id,
            buyer_id=payment.buyer_id,
            amount=payment.amount,
            method=int(payment.method),
            provider=payment.provider,
            provider_reference=payment.provider_reference,
            state=int(payment.state),
            instructions=_instructions_document(payment.instructions),
            description=payment.description,
            mobile_number=payment.mobile_number,
            expires_at=payment.expires_at,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )
        .on_conflict_do_nothing(index_elements=[payments.c.checkout_id])
        .returning(payments.c.id)
    )
    return inserted.first() is not None


async def get_payment(
    session: AsyncSession, *, payment_id: str = "", checkout_id: str = "", lock: bool = False
) -> domain.Payment | None:
    """A payment with its ledger sums, by id or by checkout; ``lock`` holds its row to the end."""
    query = select(payments).where(
        payments.c.id == payment_id if payment_id else payments.c.checkout_id == checkout_id
    )
    if lock:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    return None if row is None else await _payment(session, row)


async def set_opened(
    session: AsyncSession, payment_id: str, *, reference: str, instructions: domain.Instructions, at: datetime
) -> None:
    """Record what the provider answered to the charge."""
    await session.execute(
        update(payments)
        .where(payments.c.id == payment_id)
        .values(
            provider_reference=reference, instructions=_instructions_document(instructions), updated_at=at
        )
    )


async def set_state(session: AsyncSession, payment_id: str, state: domain.State, at: datetime) -> None:
    """Move a payment to ``state``."""
    await session.execute(
        update(payments).where(payments.c.id == payment_id).values(state=int(state), updated_at=at)
    )


async def add_entry(
    session: AsyncSession,
    *,
    payment_id: str,
    kind: domain.LedgerKind,
    amount: int,
    reason: str,
    provider_reference: str,
    at: datetime,
    refund_id: str | None = None,
    settled_at: datetime | None = None,
) -> bool:
    """Append one ledger row (once per capture and per refund): whether it was appended.

    ``settled_at`` is the provider's own time of it, when it gave one: a capture paid at 23:59 and
    heard of at 00:01 is the day before's in the provider's report, and reconciled there.
    """
    inserted = await session.execute(
        insert(ledger_entries)
        .values(
            payment_id=payment_id,
            kind=int(kind),
            amount=amount,
            refund_id=refund_id,
            reason=reason,
            provider_reference=provider_reference,
            created_at=at,
            settled_at=settled_at,
        )
        .on_conflict_do_nothing()
        .returning(ledger_entries.c.id)
    )
    return inserted.first() is not None


async def ledger(session: AsyncSession, payment_id: str) -> list[Row[Any]]:
    """A payment's ledger, oldest first."""
    return list(
        (
            await session.execute(
                select(ledger_entries)
                .where(ledger_entries.c.payment_id == payment_id)
                .order_by(ledger_entries.c.id)
            )
        ).all()
    )


async def get_refund(session: AsyncSession, payment_id: str, refund_id: str) -> Row[Any] | None:
    """A refund made before under this id, or None."""
    return (
        await session.execute(
            select(refunds).where(refunds.c.payment_id == payment_id, refunds.c.refund_id == refund_id)
        )
    ).first()


async def add_refund(
    session: AsyncSession, *, payment_id: str, refund_id: str, amount: int, reason: str, at: datetime
) -> None:
    """Record a refund."""
    await session.execute(
        insert(refunds).values(
            payment_id=payment_id, refund_id=refund_id, amount=amount, reason=reason, created_at=at
        )
    )


async def record_notification(
    session: AsyncSession,
    *,
    provider: str,
    dedupe_key: str,
    body: bytes,
    payment_id: str,
    outcome: str,
    at: datetime,
) -> bool:
    """Keep a notification as received, once: whether it is new (False for a replay)."""
    inserted = await session.execute(
        insert(provider_notifications)
        .values(
            provider=provider,
            dedupe_key=dedupe_key,
            body=body,
            payment_id=payment_id,
            outcome=outcome,
            received_at=at,
        )
        .on_conflict_do_nothing()
        .returning(provider_notifications.c.id)
    )
    return inserted.first() is not None


async def claim_expired(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    """Pending payments past their expiry, locked to the caller (other replicas skip them)."""
    rows = await session.execute(
        select(payments.c.id)
        .where(
            payments.c.state == int(domain.State.PENDING),
            payments.c.expires_at <= now,
            # Cash on delivery waits for its parcel: delivery or the order's cancellation ends it.
            payments.c.provider != domain.CASH_ON_DELIVERY,
        )
        .order_by(payments.c.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [str(payment_id) for payment_id in rows.scalars()]


async def next_expiry(session: AsyncSession) -> datetime | None:
    """When the next pending payment expires, or None."""
    found: datetime | None = (
        await session.execute(
            select(func.min(payments.c.expires_at)).where(
                payments.c.state == int(domain.State.PENDING), payments.c.provider != domain.CASH_ON_DELIVERY
            )
        )
    ).scalar_one_or_none()
    return found


def _instructions_document(instructions: domain.Instructions) -> dict[str, str]:
    return {name: value for name, value in instructions.__dict__.items() if value}


async def _payment(session: AsyncSession, row: Row[Any]) -> domain.Payment:
    sums = (
        await session.execute(
            select(
                func.coalesce(
                    func.sum(
                        case(
                            (
                                ledger_entries.c.kind == int(domain.LedgerKind.CAPTURED),
                                ledger_entries.c.amount,
                            )
                        )
                    ),
                    0,
                ),
                func.coalesce(
                    func.sum(
                        case(
                            (
                                ledger_entries.c.kind == int(domain.LedgerKind.REFUNDED),
                                ledger_entries.c.amount,
                            )
                        )
                    ),
                    0,
                ),
            ).where(ledger_entries.c.payment_id == row.id)
        )
    ).one()
    return domain.Payment(
        id=str(row.id),
        checkout_id=row.checkout_id,
        buyer_id=row.buyer_id,
        amount=row.amount,
        method=domain.Method(row.method),
        provider=row.provider,
        state=domain.State(row.state),
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
        provider_reference=row.provider_reference,
        instructions=domain.Instructions(**row.instructions),
        description=row.description,
        mobile_number=row.mobile_number,
        captured=int(sums[0]),
        refunded=int(sums[1]),
    )


# ---- reconciliation ---------------------------------------------------------------------------------


async def ledger_net(
    session: AsyncSession, *, provider: str, start: datetime, end: datetime
) -> dict[domain.Charge, int]:
    """Per payment of ``provider`` (with its reference), what its ledger captured less refunded in
    [start, end)."""
    signed = case(
        (ledger_entries.c.kind == int(domain.LedgerKind.CAPTURED), ledger_entries.c.amount),
        (ledger_entries.c.kind == int(domain.LedgerKind.REFUNDED), -ledger_entries.c.amount),
        else_=0,
    )
    # The provider's day of an entry where it said one, as its report counts it; else when it was written.
    day_of = func.coalesce(ledger_entries.c.settled_at, ledger_entries.c.created_at)
    rows = await session.execute(
        select(ledger_entries.c.payment_id, payments.c.provider_reference, func.sum(signed))
        .join(payments, payments.c.id == ledger_entries.c.payment_id)
        .where(
            payments.c.provider == provider,
            day_of >= start,
            day_of < end,
            ledger_entries.c.kind.in_([int(domain.LedgerKind.CAPTURED), int(domain.LedgerKind.REFUNDED)]),
        )
        .group_by(ledger_entries.c.payment_id, payments.c.provider_reference)
    )
    return {(str(payment_id), reference): int(net) for payment_id, reference, net in rows}


async def charges_of(
    session: AsyncSession, *, provider: str, payment_ids: set[str], references: set[str]
) -> list[domain.Charge]:
    """The payments of ``provider`` among ``payment_ids`` or whose reference is among ``references``."""
    ids = [payment_id for payment_id in payment_ids if is_id(payment_id)]
    wanted = [reference for reference in references if reference]
    if not ids and not wanted:
        return []
    # Two array parameters, however many charges a day has (a list of binds would run out of them).
    rows = await session.execute(
        select(payments.c.id, payments.c.provider_reference).where(
            payments.c.provider == provider,
            (payments.c.id == any_(bindparam("ids", ids, type_=ARRAY(Uuid(as_uuid=False)))))
            | (payments.c.provider_reference == any_(bindparam("references", wanted, type_=ARRAY(Text)))),
        )
    )
    return [(str(payment_id), reference) for payment_id, reference in rows]


async def add_mismatches(
    session: AsyncSession, *, provider: str, day: date, found: list[domain.Mismatch], at: datetime
) -> None:
    """Record what was found (a mismatch found before stays as it was first recorded)."""
    if not found:
        return
    await session.execute(
        insert(reconciliation_mismatches)
        .values(
            [
                {
                    "provider": provider,
                    "day": day,
                    "payment_id": mismatch.payment_id,
                    "provider_reference": mismatch.provider_reference,
                    "kind": int(mismatch.kind),
                    "ledger_amount": mismatch.ledger_amount,
                    "provider_amount": mismatch.provider_amount,
                    "detected_at": at,
                }
                for mismatch in found
            ]
        )
        .on_conflict_do_nothing(
            index_elements=["provider", "day", "payment_id", "provider_reference", "kind"]
        )
    )


async def record_run(
    session: AsyncSession, *, provider: str, day: date, mismatches: int, at: datetime
) -> None:
    """Note that ``provider``'s ``day`` was reconciled (again: the latest count)."""
    statement = insert(reconciliation_runs).values(
        provider=provider, day=day, mismatches=mismatches, ran_at=at
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=["provider", "day"], set_={"mismatches": mismatches, "ran_at": at}
        )
    )


async def days_run(session: AsyncSession, *, provider: str, since: date) -> set[date]:
    """The days from ``since`` on that ``provider``'s report was reconciled."""
    found = await session.execute(
        select(reconciliation_runs.c.day).where(
            reconciliation_runs.c.provider == provider, reconciliation_runs.c.day >= since
        )
    )
    return set(found.scalars())


async def list_mismatches(
    session: AsyncSession, *, provider: str, day: date | None, before: tuple[date, int] | None, limit: int
) -> list[Any]:
    """Mismatches newest day first (then newest found first), after the cursor ``before``."""
    query = select(reconciliation_mismatches).order_by(
        reconciliation_mismatches.c.day.desc(), reconciliation_mismatches.c.id.desc()
    )
    if provider:
        query = query.where(reconciliation_mismatches.c.provider == provider)
    if day is not None:
        query = query.where(reconciliation_mismatches.c.day == day)
    if before is not None:
        query = query.where(
            (reconciliation_mismatches.c.day < before[0])
            | ((reconciliation_mismatches.c.day == before[0]) & (reconciliation_mismatches.c.id < before[1]))
        )
    return list(await session.execute(query.limit(limit)))
