"""Stable reasons of the notification service's errors, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation). Never rename one: add a new reason instead. The
reasons every service shares (INVALID_ID, VALIDATION_FAILED…) are ``CommonReason``.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why a notification request failed."""

    # Another account's notifications are reported as not found, so account ids cannot be probed.
    USER_NOT_FOUND = "USER_NOT_FOUND"
