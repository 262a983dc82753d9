"""Stable reasons of the promotion service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation, and of each voucher ApplyVouchers refuses). Never
rename one: add a new reason instead. The reasons every service shares
(INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a promotion request failed, or why a voucher does not apply."""

    INVALID_VOUCHER = "INVALID_VOUCHER"
    INVALID_CHECKOUT = "INVALID_CHECKOUT"
    VOUCHER_CODE_TAKEN = "VOUCHER_CODE_TAKEN"
    PLATFORM_VOUCHER_ADMIN_ONLY = "PLATFORM_VOUCHER_ADMIN_ONLY"
    VOUCHER_NOT_FOUND = "VOUCHER_NOT_FOUND"
    VOUCHER_NOT_STARTED = "VOUCHER_NOT_STARTED"
    VOUCHER_EXPIRED = "VOUCHER_EXPIRED"
    VOUCHER_USED_UP = "VOUCHER_USED_UP"
    VOUCHER_BUYER_LIMIT_REACHED = "VOUCHER_BUYER_LIMIT_REACHED"
    VOUCHER_MIN_SPEND_NOT_MET = "VOUCHER_MIN_SPEND_NOT_MET"
    VOUCHER_NOT_ELIGIBLE = "VOUCHER_NOT_ELIGIBLE"
    VOUCHER_NEW_BUYERS_ONLY = "VOUCHER_NEW_BUYERS_ONLY"
    VOUCHER_PAYMENT_METHOD = "VOUCHER_PAYMENT_METHOD"
    VOUCHER_NOT_STACKABLE = "VOUCHER_NOT_STACKABLE"
    CHECKOUT_ALREADY_HELD = "CHECKOUT_ALREADY_HELD"
    USAGE_RELEASED = "USAGE_RELEASED"
    NO_HOLD = "NO_HOLD"
