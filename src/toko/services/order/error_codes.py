"""Stable reasons of the order service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation). Never rename one: add a new reason instead. The
reasons every service shares (INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a order request failed."""

    INVALID_NOTE_TEXT = "INVALID_NOTE_TEXT"
    NOTE_NOT_FOUND = "NOTE_NOT_FOUND"
