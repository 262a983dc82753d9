"""Payments as plain Python: methods and who collects them, states, and the ledger's rules.

A payment is opened pending with its provider; the provider's word (a verified notification, then
confirmed by asking the provider) moves it once to captured, failed, expired or cancelled, or holds
it for review when the amount reported is not the amount owed. Money only moves in the ledger: a
captured payment's captured and refunded figures are sums of its rows, and the refunds never add up
to more than was captured.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from toko.services.payment.error_codes import ErrorCode

MIDTRANS = "midtrans"
XENDIT = "xendit"
# Cash on delivery: no provider collects it; the courier does, and delivery settles it.
CASH_ON_DELIVERY = "cod"
# A cash-on-delivery payment waits for its parcel, not for an expiry; this is only its outer bound.
COD_WAIT = timedelta(days=30)
MAX_AMOUNT = 100_000_000_000  # Rp 100 billion: above any checkout, below what a provider accepts
MAX_REASON_LENGTH = 200


class Method(enum.IntEnum):
    """How a buyer pays; the values are the contract's ``PaymentMethod`` numbers."""

    VA_BCA = 1
    VA_BNI = 2
    VA_BRI = 3
    VA_MANDIRI = 4
    VA_PERMATA = 5
    QRIS = 6
    GOPAY = 7
    OVO = 8
    DANA = 9
    SHOPEEPAY = 10
    CARD = 11
    ALFAMART = 12
    INDOMARET = 13
    COD = 14


class State(enum.IntEnum):
    """Where a payment is; the values are the contract's ``PaymentState`` numbers."""

    PENDING = 1
    AUTHORIZED = 2
    CAPTURED = 3
    FAILED = 4
    EXPIRED = 5
    CANCELLED = 6
    HELD_FOR_REVIEW = 7


FINAL_STATES = frozenset({State.CAPTURED, State.FAILED, State.EXPIRED, State.CANCELLED})


class LedgerKind(enum.IntEnum):
    """What a ledger row records; the values are the contract's ``LedgerEntryKind`` numbers."""

    AUTHORIZED = 1
    CAPTURED = 2
    FAILED = 3
    EXPIRED = 4
    REFUNDED = 5


@dataclass(frozen=True)
class MethodTerms:
    """How a method is shown and charged: its name, its provider, and the provider's request parts."""

    display_name: str
    provider: str
    payment_type: str
    channel: str = ""


# Methods toko offers, each with the provider that collects it.
METHODS: dict[Method, MethodTerms] = {
    Method.VA_BCA: MethodTerms("BCA Virtual Account", MIDTRANS, "bank_transfer", "bca"),
    Method.VA_BNI: MethodTerms("BNI Virtual Account", MIDTRANS, "bank_transfer", "bni"),
    Method.VA_BRI: MethodTerms("BRI Virtual Account", MIDTRANS, "bank_transfer", "bri"),
    Method.VA_MANDIRI: MethodTerms("Mandiri Bill Payment", MIDTRANS, "echannel"),
    Method.VA_PERMATA: MethodTerms("Permata Virtual Account", MIDTRANS, "bank_transfer", "permata"),
    Method.QRIS: MethodTerms("QRIS", MIDTRANS, "qris"),
    Method.GOPAY: MethodTerms("GoPay", MIDTRANS, "gopay"),
    Method.SHOPEEPAY: MethodTerms("ShopeePay", MIDTRANS, "shopeepay"),
    Method.CARD: MethodTerms("Credit or debit card", MIDTRANS, "credit_card"),
    Method.ALFAMART: MethodTerms("Alfamart", MIDTRANS, "cstore", "alfamart"),
    Method.INDOMARET: MethodTerms("Indomaret", MIDTRANS, "cstore", "indomaret"),
    Method.OVO: MethodTerms("OVO", XENDIT, "ewallet", "ID_OVO"),
    Method.DANA: MethodTerms("DANA", XENDIT, "ewallet", "ID_DANA"),
    Method.COD: MethodTerms("Cash on delivery", CASH_ON_DELIVERY, "cod"),
}
# An Indonesian mobile number, as OVO wants it pushed to: +62 or 0, then 8 and 8 to 11 digits.
MOBILE_NUMBER = re.compile(r"^(\+62|62|0)8[0-9]{8,11}$")


def normalized_mobile(number: str) -> str | None:
    """``number`` as +628…, or None when it is not an Indonesian mobile number."""
    compact = re.sub(r"[\s-]", "", number)
    if not MOBILE_NUMBER.match(compact):
        return None
    return "+62" + compact.removeprefix("+").removeprefix("62").removeprefix("0")


# What the provider's transaction status means here.
PROVIDER_STATES = {
    "pending": State.PENDING,
    "authorize": State.AUTHORIZED,
    "capture": State.CAPTURED,
    "settlement": State.CAPTURED,
    "deny": State.FAILED,
    "failure": State.FAILED,
    "expire": State.EXPIRED,
    "cancel": State.CANCELLED,
    # Xendit's e-wallet charge statuses, lower-cased.
    "succeeded": State.CAPTURED,
    "failed": State.FAILED,
    "voided": State.CANCELLED,
    # Cash a courier collected on delivery.
    "cod_collected": State.CAPTURED,
}


@dataclass(frozen=True)
class Instructions:
    """What the buyer does to pay; only the method's fields are set."""

    va_number: str = ""
    biller_code: str = ""
    qr_string: str = ""
    redirect_url: str = ""
    payment_code: str = ""
    pay_page_url: str = ""


@dataclass(frozen=True)
class Payment:
    """What a buyer owes for one checkout."""

    id: str
    checkout_id: str
    buyer_id: str
    amount: int
    method: Method
    provider: str
    state: State
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    provider_reference: str = ""
    instructions: Instructions = Instructions()
    description: str = ""
    captured: int = 0
    refunded: int = 0
    # The phone an OVO charge is pushed to.
    mobile_number: str = ""

    def visible_to(self, *, subject: str, is_admin: bool, is_service: bool) -> bool:
        """Its buyer, services and admins see it."""
        return is_admin or is_service or (bool(subject) and subject == self.buyer_id)


class RefundRefused(Exception):
    """A refund that breaks the ledger's rule."""

    def __init__(self, reason: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def check_refund(payment: Payment, amount: int) -> None:
    """Raise ``RefundRefused`` unless ``amount`` can go back to the buyer now."""
    if payment.state is not State.CAPTURED:
        raise RefundRefused(ErrorCode.PAYMENT_NOT_CAPTURED, "only a captured payment can be refunded")
    left = payment.captured - payment.refunded
    if amount > left:
        raise RefundRefused(
            ErrorCode.REFUND_EXCEEDS_CAPTURED,
            f"at most {left} can still be refunded of {payment.captured} captured",
        )


class MismatchKind(enum.IntEnum):
    """How the ledger and a settlement report disagree; the contract's ``MismatchKind`` numbers."""

    MISSING_IN_LEDGER = 1
    MISSING_AT_PROVIDER = 2
    AMOUNT_DIFFERS = 3


@dataclass(frozen=True)
class Mismatch:
    """One charge the ledger and the provider's report disagree about on a day."""

    payment_id: str
    kind: MismatchKind
    ledger_amount: int
    provider_amount: int
    # The provider's reference of the charge; a charge toko knows no payment of has only this.
    provider_reference: str = ""


# What a reconciliation compares: a charge, as (payment id, the provider's reference). A payment toko
# knows is named by both; a charge the report lists that toko knows nothing of, by the report's words.
Charge = tuple[str, str]


def reconcile(ledger: dict[Charge, int], report: dict[Charge, int]) -> list[Mismatch]:
    """Every charge whose net of the day (captured less refunded) is not the same in both."""
    found: list[Mismatch] = []
    for charge in sorted(set(ledger) | set(report)):
        ours, theirs = ledger.get(charge), report.get(charge)
        if ours == theirs:
            continue
        if ours is None:
            kind = MismatchKind.MISSING_IN_LEDGER
        elif theirs is None:
            kind = MismatchKind.MISSING_AT_PROVIDER
        else:
            kind = MismatchKind.AMOUNT_DIFFERS
        found.append(Mismatch(charge[0], kind, ours or 0, theirs or 0, provider_reference=charge[1]))
    return found
