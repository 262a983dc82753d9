"""The payment service's rules, without I/O: refunds against the ledger, methods, the provider's words."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from toko.services.payment.domain import (
    METHODS,
    PROVIDER_STATES,
    Method,
    Payment,
    RefundRefused,
    State,
    check_refund,
    normalized_mobile,
)
from toko.services.payment.error_codes import ErrorCode
from toko.services.payment.provider import amount_of, qr_png_base64

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
CAPTURED = Payment(
    id="p",
    checkout_id="c",
    buyer_id="b",
    amount=150_000,
    method=Method.VA_BCA,
    provider="midtrans",
    state=State.CAPTURED,
    expires_at=NOW + timedelta(days=1),
    created_at=NOW,
    updated_at=NOW,
    captured=150_000,
    refunded=100_000,
)


def test_a_refund_fits_in_what_is_captured_and_not_refunded_yet() -> None:
    check_refund(CAPTURED, 50_000)
    with pytest.raises(RefundRefused) as over:
        check_refund(CAPTURED, 50_001)
    assert over.value.reason is ErrorCode.REFUND_EXCEEDS_CAPTURED
    with pytest.raises(RefundRefused) as pending:
        check_refund(replace(CAPTURED, state=State.PENDING, captured=0, refunded=0), 1)
    assert pending.value.reason is ErrorCode.PAYMENT_NOT_CAPTURED


def test_every_method_is_offered_with_the_provider_that_collects_it() -> None:
    assert set(METHODS) == set(Method)
    assert {terms.provider for terms in METHODS.values()} == {"midtrans", "xendit", "cod"}
    assert METHODS[Method.VA_BCA].channel == "bca"
    assert (METHODS[Method.OVO].provider, METHODS[Method.OVO].channel) == ("xendit", "ID_OVO")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("081234567890", "+6281234567890"),
        ("+62 812-3456-7890", "+6281234567890"),
        ("628123456789", "+628123456789"),
        ("021345678", None),
        ("0812", None),
        ("+6581234567890", None),
        ("", None),
    ],
)
def test_an_ovo_phone_is_an_indonesian_mobile_number(given: str, expected: str | None) -> None:
    assert normalized_mobile(given) == expected


def test_the_providers_words_mean_one_state_each() -> None:
    assert PROVIDER_STATES["settlement"] is PROVIDER_STATES["capture"] is State.CAPTURED
    assert PROVIDER_STATES["deny"] is State.FAILED
    assert PROVIDER_STATES["expire"] is State.EXPIRED
    assert "refund" not in PROVIDER_STATES
    assert PROVIDER_STATES["succeeded"] is State.CAPTURED
    assert PROVIDER_STATES["voided"] is State.CANCELLED


def test_amounts_and_qr_codes() -> None:
    assert amount_of("150000.00") == 150_000
    assert amount_of("lots") == -1
    assert base64.b64decode(qr_png_base64("00020101021226"))[:8] == b"\x89PNG\r\n\x1a\n"
