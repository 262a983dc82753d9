"""Stable reasons of every error the echo service returns."""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why an echo request failed."""

    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    COUNT_OUT_OF_RANGE = "COUNT_OUT_OF_RANGE"
    INTERVAL_OUT_OF_RANGE = "INTERVAL_OUT_OF_RANGE"
