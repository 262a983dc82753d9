"""Stable reasons of every error the auth service's gRPC API returns, so clients can branch on them.

They travel as ``google.rpc.ErrorInfo.reason`` (and as the ``reason`` of each
``BadRequest`` field violation). Never rename one: add a new reason instead. The OAuth
endpoints answer with the error codes of RFC 6749 instead (``invalid_request``…).
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why an auth request failed."""

    VALIDATION_FAILED = "VALIDATION_FAILED"
    # Client registry.
    CLIENT_EXISTS = "CLIENT_EXISTS"
    CLIENT_NOT_FOUND = "CLIENT_NOT_FOUND"
    INVALID_CLIENT_TYPE = "INVALID_CLIENT_TYPE"
    INVALID_NAME = "INVALID_NAME"
    TOO_MANY_REDIRECT_URIS = "TOO_MANY_REDIRECT_URIS"
    INVALID_REDIRECT_URI = "INVALID_REDIRECT_URI"
    UNSUPPORTED_GRANT_TYPE = "UNSUPPORTED_GRANT_TYPE"
    UNKNOWN_SCOPE = "UNKNOWN_SCOPE"
    REDIRECT_URI_REQUIRED = "REDIRECT_URI_REQUIRED"
    PUBLIC_CLIENT_GRANT = "PUBLIC_CLIENT_GRANT"
    UNKNOWN_ROLE = "UNKNOWN_ROLE"
    ROLES_NOT_ALLOWED = "ROLES_NOT_ALLOWED"
