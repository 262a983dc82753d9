"""The payment service's use cases, one transaction each.

A payment is written before its provider is asked (so a retry finds it), then opened with the
provider, and moved only by the provider's word: a notification is verified (signature, age), then
confirmed by asking the provider for the transaction's status, and only that status is applied, with
the notification kept as received (once: a replay changes nothing). Amounts move only in the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone

import orjson

from toko.common.v1.event_pb2 import EventEnvelope
from toko.payment.v1 import events_pb2
from toko.payment.v1 import payment_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    Conflict,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from toko.platform.failpoints import crash_point
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import Page, PageSpec, decode_token, encode_token
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.services.payment import domain
from toko.services.payment import repository as store
from toko.services.payment.error_codes import ErrorCode
from toko.services.payment.mapping import entry_to_proto, mismatch_to_proto, payment_to_proto, refund_to_proto
from toko.services.payment.provider import (
    Provider,
    ProviderRefused,
    ProviderStatus,
    ProviderUnavailable,
)

SOURCE = "payment"
# The providers' reports count days in Western Indonesian Time.
WIB = timezone(timedelta(hours=7))
MAX_REFERENCE_LENGTH = 64
MIN_EXPIRY = timedelta(minutes=5)
MAX_EXPIRY = timedelta(days=2)
log = logging.getLogger("toko.payment")


@dataclass
class ChangeFeed:
    """Wakes the watchers of a payment when one of its events is published (``WatchPayment``)."""

    _waiting: dict[str, set[asyncio.Event]] = field(default_factory=lambda: defaultdict(set))

    async def on_message(self, data: bytes) -> None:
        """A message of the service's own event subjects: wake whoever watches its payment."""
        try:
            subject = EventEnvelope.FromString(data).subject
        except Exception:
            return
        for event in self._waiting.get(subject, ()):
            event.set()

    def watch(self, payment_id: str) -> asyncio.Event:
        """An event set at the payment's next change."""
        event = asyncio.Event()
        self._waiting[payment_id].add(event)
        return event

    def forget(self, payment_id: str, event: asyncio.Event) -> None:
        """Stop waking ``event``."""
        watchers = self._waiting.get(payment_id)
        if watchers is not None:
            watchers.discard(event)
            if not watchers:
                del self._waiting[payment_id]


@dataclass(frozen=True)
class Payments:
    """The service's dependencies."""

    database: Database
    # Each provider by its code (a payment names the one that collects it).
    providers: Mapping[str, Provider]
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    clock: Clock = utcnow
    # How often a watcher looks again when no event woke it (a missed wake-up costs this much delay).
    watch_recheck_seconds: float = 15.0


def list_methods() -> list[pb.MethodInfo]:
    """Every method a buyer can choose."""
    return [
        pb.MethodInfo(method=int(method), display_name=terms.display_name, provider=terms.provider)  # type: ignore[arg-type]
        for method, terms in domain.METHODS.items()
    ]


@dataclass(frozen=True)
class CreatePayment:
    """Open a payment for a checkout."""

    checkout_id: str
    buyer_id: str
    amount: int
    currency: str
    method: int
    expire_time: datetime | None
    description: str
    mobile_number: str = ""


def provider_of(payments: Payments, payment: domain.Payment) -> Provider:
    """The provider collecting ``payment``."""
    return payments.providers[payment.provider]


def _checked(command: CreatePayment, now: datetime) -> domain.MethodTerms:
    violations: list[Violation] = []
    for name in ("checkout_id", "buyer_id"):
        if not 1 <= len(getattr(command, name).strip()) <= MAX_REFERENCE_LENGTH:
            violations.append(
                Violation(name, f"1 to {MAX_REFERENCE_LENGTH} characters", CommonReason.INVALID_ID)
            )
    if not 1 <= command.amount <= domain.MAX_AMOUNT:
        violations.append(Violation("amount.amount", f"1 to {domain.MAX_AMOUNT}", ErrorCode.INVALID_AMOUNT))
    if command.currency not in ("", "IDR"):
        violations.append(Violation("amount.currency", "only IDR", ErrorCode.INVALID_CURRENCY))
    cash = command.method == int(domain.Method.COD)
    if not cash and (
        command.expire_time is None or not now + MIN_EXPIRY <= command.expire_time <= now + MAX_EXPIRY
    ):
        violations.append(
            Violation("expire_time", "between 5 minutes and 2 days ahead", ErrorCode.INVALID_EXPIRY)
        )
    if len(command.description) > 200:
        violations.append(Violation("description", "at most 200 characters", ErrorCode.INVALID_REASON))
    try:
        method = domain.Method(command.method)
    except ValueError:
        violations.append(Violation("method", "choose a payment method", ErrorCode.PAYMENT_METHOD_REQUIRED))
        method = None
    if method is domain.Method.OVO and domain.normalized_mobile(command.mobile_number) is None:
        violations.append(
            Violation(
                "mobile_number",
                "OVO pushes the payment to an Indonesian mobile number (+62 or 08…)",
                ErrorCode.MOBILE_NUMBER_REQUIRED,
            )
        )
    if violations:
        raise invalid(violations)
    terms = domain.METHODS.get(method) if method is not None else None
    if terms is None:
        raise FailedPrecondition(
            ErrorCode.PAYMENT_METHOD_NOT_AVAILABLE, "this payment method is not available"
        )
    return terms


async def create_payment(*, payments: Payments, command: CreatePayment) -> pb.Payment:
    """Open the checkout's payment with its provider; the same checkout again is the same payment."""
    now = payments.clock()
    terms = _checked(command, now)
    method = domain.Method(command.method)
    expires_at = now + domain.COD_WAIT if method is domain.Method.COD else command.expire_time
    assert expires_at is not None
    async with payments.database.unit_of_work(SOURCE) as uow:
        payment = await store.get_payment(uow.session, checkout_id=command.checkout_id)
        if payment is None:
            payment = domain.Payment(
                id=new_id(),
                checkout_id=command.checkout_id,
                buyer_id=command.buyer_id,
                amount=command.amount,
                method=method,
                provider=terms.provider,
                state=domain.State.PENDING,
                expires_at=expires_at,
                created_at=now,
                updated_at=now,
                description=command.description.strip(),
                mobile_number=domain.normalized_mobile(command.mobile_number) or "",
            )
            if not await store.add_payment(uow.session, payment):
                payment = await store.get_payment(uow.session, checkout_id=command.checkout_id)
            await uow.commit()
    assert payment is not None
    if (payment.amount, int(payment.method), payment.buyer_id) != (
        command.amount,
        command.method,
        command.buyer_id,
    ):
        raise FailedPrecondition(
            ErrorCode.CHECKOUT_PAYMENT_MISMATCH,
            "this checkout already has a payment of another amount or method",
        )
    if payment.provider_reference or payment.state is not domain.State.PENDING:
        return payment_to_proto(payment)
    crash_point("payment.create.written")
    try:
        opened = await provider_of(payments, payment).charge(payment, terms)
    except ProviderUnavailable as exc:
        raise Unavailable(
            ErrorCode.PROVIDER_UNAVAILABLE, "the payment provider did not answer; retry"
        ) from exc
    except ProviderRefused as exc:
        await _end(payments, payment.id, domain.State.FAILED, reason=str(exc)[:200])
        raise FailedPrecondition(ErrorCode.PROVIDER_REFUSED, f"the payment provider refused: {exc}") from exc
    crash_point("payment.create.charged")
    async with payments.database.unit_of_work(SOURCE) as uow:
        await store.set_opened(
            uow.session,
            payment.id,
            reference=opened.reference,
            instructions=opened.instructions,
            at=payments.clock(),
        )
        created = await store.get_payment(uow.session, payment_id=payment.id)
        assert created is not None
        uow.publish(events_pb2.PaymentCreated(payment=payment_to_proto(created)), subject=payment.id)
        await uow.commit()
    return payment_to_proto(created)


async def get_payment(*, payments: Payments, payment_id: str, principal: Principal) -> pb.Payment:
    """A payment with its instructions, to its buyer, services and admins."""
    return payment_to_proto(await _visible(payments, payment_id, principal))


async def _visible(payments: Payments, payment_id: str, principal: Principal) -> domain.Payment:
    require_id(payment_id, "id")
    async with payments.database.sessions() as session:
        payment = await store.get_payment(session, payment_id=payment_id)
    if payment is None or not payment.visible_to(
        subject="" if principal.is_anonymous else principal.subject,
        is_admin=principal.is_admin,
        is_service="service" in principal.roles,
    ):
        raise NotFound(ErrorCode.PAYMENT_NOT_FOUND, f"no payment {payment_id}")
    return payment


async def watch_payment(
    *, payments: Payments, payment_id: str, principal: Principal
) -> AsyncIterator[pb.Payment]:
    """The payment now, then at each change, until it is final."""
    payment = await _visible(payments, payment_id, principal)
    changed = payments.changes.watch(payment_id)
    try:
        yield payment_to_proto(payment)
        last = payment
        while last.state not in domain.FINAL_STATES:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=payments.watch_recheck_seconds)
            changed.clear()
            async with payments.database.sessions() as session:
                now = await store.get_payment(session, payment_id=payment_id)
            assert now is not None
            if (now.state, now.captured, now.refunded) != (last.state, last.captured, last.refunded):
                yield payment_to_proto(now)
            last = now
    finally:
        payments.changes.forget(payment_id, changed)


async def cancel_payment(*, payments: Payments, payment_id: str, reason: str) -> pb.Payment:
    """Cancel a payment not captured (the checkout gave up); a captured one is refused."""
    require_id(payment_id, "id")
    async with payments.database.sessions() as session:
        payment = await store.get_payment(session, payment_id=payment_id)
    if payment is None:
        raise NotFound(ErrorCode.PAYMENT_NOT_FOUND, f"no payment {payment_id}")
    if payment.state is domain.State.CAPTURED:
        raise FailedPrecondition(
            ErrorCode.PAYMENT_ALREADY_CAPTURED, "the payment is captured; refund it instead"
        )
    if payment.state in domain.FINAL_STATES:
        return payment_to_proto(payment)
    if payment.provider_reference:
        try:
            await provider_of(payments, payment).cancel(payment)
        except ProviderUnavailable as exc:
            raise Unavailable(
                ErrorCode.PROVIDER_UNAVAILABLE, "the payment provider did not answer; retry"
            ) from exc
        except ProviderRefused:
            # Settled meanwhile, most likely: the provider's status decides.
            status = await _status(payments, payment)
            if status is not None and status.state is not None and status.state is not domain.State.PENDING:
                ended = await apply_status(payments, payment.id, status)
                if ended.state is domain.State.CAPTURED:
                    raise FailedPrecondition(
                        ErrorCode.PAYMENT_ALREADY_CAPTURED, "the payment was captured; refund it instead"
                    ) from None
                return payment_to_proto(ended)
    return payment_to_proto(
        await _end(payments, payment.id, domain.State.CANCELLED, reason=reason.strip()[:200])
    )


async def refund_payment(
    *, payments: Payments, payment_id: str, refund_id: str, amount: int, reason: str
) -> tuple[pb.Refund, pb.Payment]:
    """Refund part or all of a captured payment, once per refund id, never above what is left."""
    violations: list[Violation] = []
    if not is_id(payment_id):
        violations.append(Violation("payment_id", "must be a payment id", CommonReason.INVALID_ID))
    if not 1 <= len(refund_id.strip()) <= MAX_REFERENCE_LENGTH:
        violations.append(
            Violation("refund_id", f"1 to {MAX_REFERENCE_LENGTH} characters", CommonReason.INVALID_ID)
        )
    if not 1 <= amount <= domain.MAX_AMOUNT:
        violations.append(Violation("amount.amount", "must be positive", ErrorCode.INVALID_AMOUNT))
    if not 1 <= len(reason.strip()) <= domain.MAX_REASON_LENGTH:
        violations.append(
            Violation("reason", f"1 to {domain.MAX_REASON_LENGTH} characters", ErrorCode.INVALID_REASON)
        )
    if violations:
        raise invalid(violations)
    refund_id, now = refund_id.strip(), payments.clock()
    async with payments.database.unit_of_work(SOURCE) as uow:
        # The payment's row lock serialises refunds, so what is left is weighed one refund at a time.
        payment = await store.get_payment(uow.session, payment_id=payment_id, lock=True)
        if payment is None:
            raise NotFound(ErrorCode.PAYMENT_NOT_FOUND, f"no payment {payment_id}")
        earlier = await store.get_refund(uow.session, payment_id, refund_id)
        if earlier is not None:
            if earlier.amount != amount:
                raise Conflict(ErrorCode.REFUND_ID_REUSED, "this refund id was used for another amount")
            return refund_to_proto(earlier), payment_to_proto(payment)
        try:
            domain.check_refund(payment, amount)
        except domain.RefundRefused as refused:
            raise FailedPrecondition(refused.reason, refused.message) from refused
        try:
            await provider_of(payments, payment).refund(payment, refund_id, amount, reason.strip())
        except ProviderUnavailable as exc:
            raise Unavailable(
                ErrorCode.PROVIDER_UNAVAILABLE, "the payment provider did not answer; retry"
            ) from exc
        except ProviderRefused as exc:
            raise FailedPrecondition(
                ErrorCode.PROVIDER_REFUSED, f"the payment provider refused: {exc}"
            ) from exc
        await store.add_refund(
            uow.session,
            payment_id=payment.id,
            refund_id=refund_id,
            amount=amount,
            reason=reason.strip(),
            at=now,
        )
        await store.add_entry(
            uow.session,
            payment_id=payment.id,
            kind=domain.LedgerKind.REFUNDED,
            amount=amount,
            reason=reason.strip(),
            provider_reference=payment.provider_reference,
            at=now,
            refund_id=refund_id,
        )
        after = await store.get_payment(uow.session, payment_id=payment.id)
        made = await store.get_refund(uow.session, payment.id, refund_id)
        assert after is not None
        assert made is not None
        refund, shown = refund_to_proto(made), payment_to_proto(after)
        uow.publish(events_pb2.PaymentRefunded(refund=refund, payment=shown), subject=payment.id)
        await uow.commit()
    return refund, shown


async def list_ledger(*, payments: Payments, payment_id: str, principal: Principal) -> list[pb.LedgerEntry]:
    """A payment's ledger, to its buyer and admins."""
    payment = await _visible(payments, payment_id, principal)
    async with payments.database.sessions() as session:
        return [entry_to_proto(row) for row in await store.ledger(session, payment.id)]


async def _status(payments: Payments, payment: domain.Payment, reference: str = "") -> ProviderStatus | None:
    try:
        return await provider_of(payments, payment).status(payment, reference)
    except ProviderUnavailable as exc:
        raise Unavailable(
            ErrorCode.PROVIDER_UNAVAILABLE, "the payment provider did not answer; retry"
        ) from exc
    except ProviderRefused as exc:
        raise FailedPrecondition(ErrorCode.PROVIDER_REFUSED, f"the payment provider refused: {exc}") from exc


async def apply_status(payments: Payments, payment_id: str, status: ProviderStatus) -> domain.Payment:
    """Apply the provider's confirmed word on a payment (once: a final payment stays as it is)."""
    async with payments.database.unit_of_work(SOURCE) as uow:
        moved = await _apply(uow, payments, payment_id, status)
        await uow.commit()
    return moved


async def _apply(
    uow: UnitOfWork, payments: Payments, payment_id: str, status: ProviderStatus
) -> domain.Payment:
    payment = await store.get_payment(uow.session, payment_id=payment_id, lock=True)
    if payment is None:
        raise NotFound(ErrorCode.PAYMENT_NOT_FOUND, f"no payment {payment_id}")
    target = status.state
    if payment.state in domain.FINAL_STATES or payment.state is domain.State.HELD_FOR_REVIEW:
        return payment
    if target is None or target in (domain.State.PENDING, domain.State.AUTHORIZED):
        return payment
    now = payments.clock()
    if target is domain.State.CAPTURED:
        if status.gross_amount != payment.amount:
            await store.set_state(uow.session, payment.id, domain.State.HELD_FOR_REVIEW, now)
            held = await store.get_payment(uow.session, payment_id=payment.id)
            assert held is not None
            uow.publish(
                events_pb2.PaymentHeldForReview(
                    payment=payment_to_proto(held), reported_amount=str(status.gross_amount)
                ),
                subject=payment.id,
            )
            log.warning(
                "payment %s held: provider reported %s of %s", payment.id, status.gross_amount, payment.amount
            )
            return held
        await store.add_entry(
            uow.session,
            payment_id=payment.id,
            kind=domain.LedgerKind.CAPTURED,
            amount=payment.amount,
            reason=status.transaction_status,
            provider_reference=status.reference,
            at=now,
            settled_at=status.settled_at,
        )
        await store.set_state(uow.session, payment.id, domain.State.CAPTURED, now)
        captured = await store.get_payment(uow.session, payment_id=payment.id)
        assert captured is not None
        uow.publish(events_pb2.PaymentCaptured(payment=payment_to_proto(captured)), subject=payment.id)
        return captured
    return await _ended(uow, payments, payment, target, reason=status.transaction_status)


async def _end(payments: Payments, payment_id: str, state: domain.State, *, reason: str) -> domain.Payment:
    async with payments.database.unit_of_work(SOURCE) as uow:
        payment = await store.get_payment(uow.session, payment_id=payment_id, lock=True)
        assert payment is not None
        if payment.state in domain.FINAL_STATES:
            return payment
        ended = await _ended(uow, payments, payment, state, reason=reason)
        await uow.commit()
    return ended


async def _ended(
    uow: UnitOfWork, payments: Payments, payment: domain.Payment, state: domain.State, *, reason: str
) -> domain.Payment:
    now = payments.clock()
    kind = {
        domain.State.FAILED: domain.LedgerKind.FAILED,
        domain.State.EXPIRED: domain.LedgerKind.EXPIRED,
    }.get(state)
    if kind is not None:
        await store.add_entry(
            uow.session,
            payment_id=payment.id,
            kind=kind,
            amount=0,
            reason=reason,
            provider_reference=payment.provider_reference,
            at=now,
        )
    await store.set_state(uow.session, payment.id, state, now)
    ended = await store.get_payment(uow.session, payment_id=payment.id)
    assert ended is not None
    shown = payment_to_proto(ended)
    if state is domain.State.FAILED:
        uow.publish(events_pb2.PaymentFailed(payment=shown, reason=reason), subject=payment.id)
    elif state is domain.State.EXPIRED:
        uow.publish(events_pb2.PaymentExpired(payment=shown), subject=payment.id)
    else:
        uow.publish(events_pb2.PaymentCancelled(payment=shown), subject=payment.id)
    return ended


class NotificationRefused(Exception):
    """A notification that changes nothing, with the HTTP status and reason to answer."""

    def __init__(self, status: int, reason: ErrorCode | CommonReason, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


async def receive_notification(
    *, payments: Payments, provider: str, headers: dict[bytes, bytes], body: bytes, tolerance: timedelta
) -> str:
    """Verify, confirm and apply a provider's notification; what came of it ("applied", "duplicate")."""
    collector = payments.providers.get(provider)
    if collector is None or provider == domain.CASH_ON_DELIVERY:
        raise NotificationRefused(404, ErrorCode.PAYMENT_NOT_FOUND, f"no provider {provider}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise NotificationRefused(400, CommonReason.VALIDATION_FAILED, "the body is not JSON") from None
    if not isinstance(document, dict):
        raise NotificationRefused(400, CommonReason.VALIDATION_FAILED, "the body is not a JSON object")
    notice = collector.notice(headers, document)
    if notice is None:
        raise NotificationRefused(401, ErrorCode.BAD_SIGNATURE, "the signature is not the provider's")
    if notice.happened_at is None or payments.clock() - notice.happened_at > tolerance:
        raise NotificationRefused(401, ErrorCode.STALE_NOTIFICATION, "the notification is too old")
    if not is_id(notice.payment_id):
        raise NotificationRefused(404, ErrorCode.PAYMENT_NOT_FOUND, "no such payment")
    async with payments.database.sessions() as session:
        payment = await store.get_payment(session, payment_id=notice.payment_id)
    if payment is None or payment.provider != provider:
        raise NotificationRefused(404, ErrorCode.PAYMENT_NOT_FOUND, "no such payment")
    # The notification only says something happened; what happened is the provider's answer now.
    status = await _status(payments, payment, notice.reference)
    if status is None:
        raise NotificationRefused(404, ErrorCode.PAYMENT_NOT_FOUND, "the provider knows no such transaction")
    async with payments.database.unit_of_work(SOURCE) as uow:
        new = await store.record_notification(
            uow.session,
            provider=provider,
            dedupe_key=hashlib.sha256(body).hexdigest(),
            body=body,
            payment_id=payment.id,
            outcome=status.transaction_status,
            at=payments.clock(),
        )
        if not new:
            return "duplicate"
        await _apply(uow, payments, payment.id, status)
        await uow.commit()
    crash_point("payment.notification.applied")
    return "applied"


async def settle_cash_on_delivery(*, payments: Payments, payment_id: str, reference: str) -> pb.Payment:
    """The courier collected a cash-on-delivery payment: captured for its amount, once."""
    require_id(payment_id, "payment_id")
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise invalid(
            [Violation("reference", f"at most {MAX_REFERENCE_LENGTH} characters", CommonReason.INVALID_ID)]
        )
    async with payments.database.sessions() as session:
        payment = await store.get_payment(session, payment_id=payment_id)
    if payment is None:
        raise NotFound(ErrorCode.PAYMENT_NOT_FOUND, f"no payment {payment_id}")
    if payment.method is not domain.Method.COD:
        raise FailedPrecondition(
            ErrorCode.NOT_CASH_ON_DELIVERY, "only a cash-on-delivery payment is settled so"
        )
    if payment.state not in (domain.State.PENDING, domain.State.CAPTURED):
        raise FailedPrecondition(
            ErrorCode.PAYMENT_NOT_PENDING, f"the payment is {payment.state.name.lower()}: nothing to collect"
        )
    collected = ProviderStatus(
        transaction_status="cod_collected",
        gross_amount=payment.amount,
        reference=reference.strip() or payment.provider_reference,
        document={},
    )
    return payment_to_proto(await apply_status(payments, payment.id, collected))


async def expire_due(payments: Payments, limit: int) -> int:
    """Settle pending payments past their expiry as the provider says (paid at the last second, or not)."""
    async with payments.database.unit_of_work(SOURCE) as uow:
        due = await store.claim_expired(uow.session, now=payments.clock(), limit=limit)
        await uow.commit()
    for payment_id in due:
        async with payments.database.sessions() as session:
            payment = await store.get_payment(session, payment_id=payment_id)
        if payment is None:
            continue
        try:
            status = await _status(payments, payment)
        except (Unavailable, FailedPrecondition) as failed:
            log.warning("payment %s not expired yet: %s", payment_id, failed)
            continue
        if status is not None and status.state not in (None, domain.State.PENDING, domain.State.AUTHORIZED):
            await apply_status(payments, payment_id, status)
            continue
        if payment.provider_reference:
            # So that nobody pays it late (a late payment would be refunded): best effort.
            with contextlib.suppress(ProviderUnavailable, ProviderRefused):
                await provider_of(payments, payment).cancel(payment)
        await _end(payments, payment_id, domain.State.EXPIRED, reason="expired unpaid")
    return len(due)


async def seconds_until_expiry(payments: Payments) -> float | None:
    """When the next pending payment expires, in seconds from now."""
    async with payments.database.sessions() as session:
        due = await store.next_expiry(session)
    return None if due is None else max(0.0, (due - payments.clock()).total_seconds())


def require_service(principal: Principal) -> None:
    """Only services and admins open, cancel and refund payments (the access rule says so too)."""
    if not (principal.is_admin or "service" in principal.roles):
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only toko's services move payments")


def require_admin(principal: Principal) -> None:
    """Reconciliation is for admins (the access rule says so too)."""
    if not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "reconciliation is for admins")


def expire_time_of(message: pb.CreatePaymentRequest) -> datetime | None:
    """The request's expiry, or None when unset."""
    if not message.HasField("expire_time"):
        return None
    return message.expire_time.ToDatetime(tzinfo=UTC)


# ---- reconciliation ---------------------------------------------------------------------------------

MISMATCH_PAGES = PageSpec(default=50, maximum=100)


def _report_day(day: str, today: date) -> date:
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise InvalidArgument.field("day", "must be YYYY-MM-DD", ErrorCode.INVALID_DAY) from None
    if parsed >= today:
        raise InvalidArgument.field(
            "day", "a day before today: its report is not out yet", ErrorCode.INVALID_DAY
        )
    return parsed


def _reported_provider(payments: Payments, provider: str) -> Provider:
    found = payments.providers.get(provider)
    if found is None or provider == domain.CASH_ON_DELIVERY:
        raise InvalidArgument.field(
            "provider",
            f"one of {', '.join(p for p in payments.providers if p != domain.CASH_ON_DELIVERY)}",
            ErrorCode.UNKNOWN_PROVIDER,
        )
    return found


async def reconcile_day(*, payments: Payments, provider: str, day: str) -> list[pb.ReconciliationMismatch]:
    """Compare a day's ledger with the provider's settlement report; record and return the mismatches."""
    collector = _reported_provider(payments, provider)
    wanted = _report_day(day, payments.clock().astimezone(WIB).date())
    return await _reconcile(payments, provider, collector, wanted)


async def _reconcile(
    payments: Payments, provider: str, collector: Provider, day: date
) -> list[pb.ReconciliationMismatch]:
    start = datetime.combine(day, time.min, tzinfo=WIB)
    end = start + timedelta(days=1)
    try:
        report = await collector.settlements(start, end)
    except ProviderUnavailable as exc:
        raise Unavailable(
            ErrorCode.PROVIDER_UNAVAILABLE, "the provider's report is out of reach; retry"
        ) from exc
    except ProviderRefused as exc:
        raise FailedPrecondition(
            ErrorCode.PROVIDER_REFUSED, f"the provider refused its report: {exc}"
        ) from exc
    rows_reported = report or []
    now = payments.clock()
    async with payments.database.unit_of_work(SOURCE) as uow:
        # Each row is put to the charge the ledger knows it as: a row may name the payment (Midtrans'
        # order id, Xendit's reference id) or only the provider's charge (a Xendit refund, made days
        # after the payment it refunds).
        known = await store.charges_of(
            uow.session,
            provider=provider,
            payment_ids={row.payment_id for row in rows_reported if row.payment_id},
            references={row.reference for row in rows_reported if not row.payment_id},
        )
        reference_of = dict(known)
        payment_of = {reference: payment_id for payment_id, reference in known if reference}
        reported: dict[domain.Charge, int] = defaultdict(int)
        for row in rows_reported:
            payment_id = row.payment_id or payment_of.get(row.reference, "")
            reference = reference_of.get(payment_id, row.reference)
            reported[payment_id, reference] += row.amount
        ledger = await store.ledger_net(uow.session, provider=provider, start=start, end=end)
        found = domain.reconcile(ledger, dict(reported))
        await store.add_mismatches(uow.session, provider=provider, day=day, found=found, at=now)
        await store.record_run(uow.session, provider=provider, day=day, mismatches=len(found), at=now)
        rows = await store.list_mismatches(uow.session, provider=provider, day=day, before=None, limit=10_000)
        await uow.commit()
    if found:
        log.warning("reconciliation of %s on %s: %d mismatches", provider, day, len(found))
    return [mismatch_to_proto(row) for row in rows]


async def reconcile_past_days(payments: Payments, days: int) -> int:
    """The scheduled job: each of the last ``days`` days (WIB, yesterday included) of every provider
    with a report, oldest first, unless it ran already; how many (provider, day) it reconciled.

    Normally that is yesterday alone; the days before are the ones a service down at the time, or a
    report out of reach all day, left undone, which would otherwise never be reconciled.
    """
    today = payments.clock().astimezone(WIB).date()
    due = [today - timedelta(days=back) for back in range(days, 0, -1)]
    ran = 0
    for provider, collector in payments.providers.items():
        if provider == domain.CASH_ON_DELIVERY:
            continue
        async with payments.database.sessions() as session:
            done = await store.days_run(session, provider=provider, since=due[0])
        for day in due:
            if day in done:
                continue
            try:
                await _reconcile(payments, provider, collector, day)
            except (Unavailable, FailedPrecondition) as refused:
                # One provider's report out of reach does not hold up the others'; it is tried next round.
                log.warning("reconciliation of %s on %s not done yet: %s", provider, day, refused)
                break
            ran += 1
    return ran


async def list_mismatches(
    *, payments: Payments, provider: str, day: str, page_size: int, page_token: str
) -> Page[pb.ReconciliationMismatch]:
    """Mismatches for admins, newest day first."""
    size = MISMATCH_PAGES.size(page_size)
    if provider:
        _reported_provider(payments, provider)
    wanted: date | None = None
    if day:
        try:
            wanted = date.fromisoformat(day)
        except ValueError:
            raise InvalidArgument.field("day", "must be YYYY-MM-DD", ErrorCode.INVALID_DAY) from None
    filters = [provider, day]
    key = decode_token(page_token, filters, 2)
    before = (date.fromisoformat(str(key[0])), int(key[1])) if key is not None else None
    async with payments.database.sessions() as session:
        rows = await store.list_mismatches(
            session, provider=provider, day=wanted, before=before, limit=size + 1
        )
    token = ""
    if len(rows) > size:
        last = rows[size - 1]
        token = encode_token([last.day.isoformat(), last.id], filters)
    return Page([mismatch_to_proto(row) for row in rows[:size]], token)
