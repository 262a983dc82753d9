"""Stable reasons of the cart service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation). Never rename one: add a new reason instead. The
reasons every service shares (INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a cart request failed."""

    # The cart named does not exist, expired, or is not the caller's to use (one answer for all three).
    CART_NOT_FOUND = "CART_NOT_FOUND"
    # The cart already holds the most lines one cart may hold.
    CART_FULL = "CART_FULL"
    LINE_NOT_FOUND = "LINE_NOT_FOUND"
    QUANTITY_OUT_OF_RANGE = "QUANTITY_OUT_OF_RANGE"
    INVALID_NOTE = "INVALID_NOTE"
    TOO_MANY_IDS = "TOO_MANY_IDS"
    # SelectCartLines names SKUs and a shop at once.
    CONFLICTING_SELECTION = "CONFLICTING_SELECTION"
    # The SKU added does not exist, or its product is not on sale.
    SKU_NOT_FOUND = "SKU_NOT_FOUND"
    SKU_NOT_SOLD = "SKU_NOT_SOLD"
    # The product service, which prices every cart, could not be reached: no cart is shown unpriced.
    PRICING_UNAVAILABLE = "PRICING_UNAVAILABLE"
