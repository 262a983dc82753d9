"""Stable reasons of the payment service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each ``BadRequest`` field
violation). Never rename one: add a new reason instead. The reasons every service shares
(INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a payment request failed."""

    INVALID_AMOUNT = "INVALID_AMOUNT"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    INVALID_EXPIRY = "INVALID_EXPIRY"
    PAYMENT_METHOD_REQUIRED = "PAYMENT_METHOD_REQUIRED"
    PAYMENT_METHOD_NOT_AVAILABLE = "PAYMENT_METHOD_NOT_AVAILABLE"
    MOBILE_NUMBER_REQUIRED = "MOBILE_NUMBER_REQUIRED"
    NOT_CASH_ON_DELIVERY = "NOT_CASH_ON_DELIVERY"
    PAYMENT_NOT_PENDING = "PAYMENT_NOT_PENDING"
    PAYMENT_NOT_FOUND = "PAYMENT_NOT_FOUND"
    PAYMENT_ALREADY_CAPTURED = "PAYMENT_ALREADY_CAPTURED"
    PAYMENT_NOT_CAPTURED = "PAYMENT_NOT_CAPTURED"
    CHECKOUT_PAYMENT_MISMATCH = "CHECKOUT_PAYMENT_MISMATCH"
    REFUND_EXCEEDS_CAPTURED = "REFUND_EXCEEDS_CAPTURED"
    REFUND_ID_REUSED = "REFUND_ID_REUSED"
    INVALID_REASON = "INVALID_REASON"
    PROVIDER_REFUSED = "PROVIDER_REFUSED"
    PROVIDER_UNAVAILABLE = "PROVIDER_UNAVAILABLE"
    # Notifications.
    BAD_SIGNATURE = "BAD_SIGNATURE"
    STALE_NOTIFICATION = "STALE_NOTIFICATION"
