"""Stable reasons of the problems the gateway itself answers with, so clients can branch on them.

They travel as the ``reason`` of a problem document (and of each of its violations). A problem
an upstream service caused carries that service's reason instead, passed on unchanged
(``toko.gateway.problems.UpstreamReason``). Never rename one: add a new reason instead.
"""

from __future__ import annotations

from toko.platform.error_codes import ReasonCode


class ErrorCode(ReasonCode):
    """Why the gateway refused or failed a request before (or instead of) a service answering it."""

    # Routing.
    ROUTE_NOT_FOUND = "ROUTE_NOT_FOUND"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    # The request's framing and headers.
    INVALID_CONTENT_LENGTH = "INVALID_CONTENT_LENGTH"
    BODY_TOO_LARGE = "BODY_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    INVALID_IDEMPOTENCY_KEY = "INVALID_IDEMPOTENCY_KEY"
    RATE_LIMITED = "RATE_LIMITED"
    # Binding the path, query and body to the operation's message.
    MALFORMED_JSON = "MALFORMED_JSON"
    BODY_NOT_OBJECT = "BODY_NOT_OBJECT"
    INVALID_BODY = "INVALID_BODY"
    INVALID_FIELD = "INVALID_FIELD"
    INVALID_VALUE = "INVALID_VALUE"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    INVALID_PATH_PARAMETER = "INVALID_PATH_PARAMETER"
    INVALID_QUERY = "INVALID_QUERY"
    INVALID_QUERY_PARAMETER = "INVALID_QUERY_PARAMETER"
    TOO_MANY_QUERY_PARAMETERS = "TOO_MANY_QUERY_PARAMETERS"
    # What is behind the gateway.
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    UPSTREAM_TIMEOUT = "UPSTREAM_TIMEOUT"
    EMPTY_STREAM = "EMPTY_STREAM"
    INTERNAL = "INTERNAL"
