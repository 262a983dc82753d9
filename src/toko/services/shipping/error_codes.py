"""Stable reasons of the shipping service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation). Never rename one: add a new reason instead. The
reasons every service shares (INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a shipping request failed."""

    # Bad input.
    INVALID_PLACE = "INVALID_PLACE"
    INVALID_PARCEL = "INVALID_PARCEL"
    INVALID_CONTACT = "INVALID_CONTACT"
    INVALID_DATE = "INVALID_DATE"
    INVALID_COD_AMOUNT = "INVALID_COD_AMOUNT"
    UNKNOWN_COURIER = "UNKNOWN_COURIER"
    UNKNOWN_SERVICE = "UNKNOWN_SERVICE"
    SERVICE_NOT_SLOTTED = "SERVICE_NOT_SLOTTED"
    # Rates.
    RATE_NOT_FOUND = "RATE_NOT_FOUND"
    RATE_EXPIRED = "RATE_EXPIRED"
    # Slots.
    SLOT_REQUIRED = "SLOT_REQUIRED"
    SLOT_NOT_FOUND = "SLOT_NOT_FOUND"
    SLOT_FULL = "SLOT_FULL"
    SLOT_MISMATCH = "SLOT_MISMATCH"
    SLOT_STARTED = "SLOT_STARTED"
    # Slot holds.
    INVALID_HOLD = "INVALID_HOLD"
    SLOT_HOLD_CONFLICT = "SLOT_HOLD_CONFLICT"
    # Shipments.
    SHIPMENT_NOT_FOUND = "SHIPMENT_NOT_FOUND"
    COD_NOT_AVAILABLE = "COD_NOT_AVAILABLE"
    COURIER_UNAVAILABLE = "COURIER_UNAVAILABLE"
    COURIER_REFUSED = "COURIER_REFUSED"
    ALREADY_PICKED_UP = "ALREADY_PICKED_UP"
    NOT_THE_BUYER = "NOT_THE_BUYER"
    # Courier webhooks.
    BAD_SIGNATURE = "BAD_SIGNATURE"
    STALE_TIMESTAMP = "STALE_TIMESTAMP"
    DUPLICATE_EVENT = "DUPLICATE_EVENT"
    UNKNOWN_WAYBILL = "UNKNOWN_WAYBILL"
    MALFORMED_WEBHOOK = "MALFORMED_WEBHOOK"
