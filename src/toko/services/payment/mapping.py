"""Domain objects ⇄ protobuf messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money
from toko.payment.v1 import payment_pb2 as pb
from toko.services.payment import domain
from toko.services.payment.provider import qr_png_base64

CURRENCY = "IDR"


def money(amount: int) -> Money:
    """An amount in rupiah."""
    return Money(amount=amount, currency=CURRENCY)


def timestamp(moment: datetime) -> Timestamp:
    """A protobuf timestamp of an aware datetime."""
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def payment_to_proto(payment: domain.Payment) -> pb.Payment:
    """A payment as the contract shows it; a QR payload comes with its PNG."""
    how = payment.instructions
    return pb.Payment(
        id=payment.id,
        checkout_id=payment.checkout_id,
        buyer_id=payment.buyer_id,
        amount=money(payment.amount),
        method=int(payment.method),  # type: ignore[arg-type]
        provider=payment.provider,
        provider_reference=payment.provider_reference,
        state=int(payment.state),  # type: ignore[arg-type]
        instructions=pb.PaymentInstructions(
            va_number=how.va_number,
            biller_code=how.biller_code,
            qr_string=how.qr_string,
            qr_png_base64=qr_png_base64(how.qr_string) if how.qr_string else "",
            redirect_url=how.redirect_url,
            payment_code=how.payment_code,
            pay_page_url=how.pay_page_url,
        ),
        expire_time=timestamp(payment.expires_at),
        captured=money(payment.captured),
        refunded=money(payment.refunded),
        create_time=timestamp(payment.created_at),
        update_time=timestamp(payment.updated_at),
    )


def refund_to_proto(row: Any) -> pb.Refund:
    """A refund row as the contract shows it."""
    return pb.Refund(
        id=row.refund_id,
        payment_id=str(row.payment_id),
        amount=money(row.amount),
        reason=row.reason,
        create_time=timestamp(row.created_at),
    )


def entry_to_proto(row: Any) -> pb.LedgerEntry:
    """A ledger row as the contract shows it."""
    return pb.LedgerEntry(
        id=str(row.id),
        payment_id=str(row.payment_id),
        kind=int(row.kind),  # type: ignore[arg-type]
        amount=money(row.amount),
        refund_id=row.refund_id or "",
        provider_reference=row.provider_reference,
        create_time=timestamp(row.created_at),
    )


def mismatch_to_proto(row: Any) -> pb.ReconciliationMismatch:
    """A reconciliation mismatch row on the wire."""
    return pb.ReconciliationMismatch(
        id=str(row.id),
        provider=row.provider,
        day=row.day.isoformat(),
        payment_id=row.payment_id,
        kind=int(row.kind),  # type: ignore[arg-type]
        ledger_amount=money(row.ledger_amount),
        provider_amount=money(row.provider_amount),
        detect_time=timestamp(row.detected_at),
        provider_reference=row.provider_reference,
    )
