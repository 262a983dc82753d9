"""RFC 9457 problem documents: the one shape every error leaves the gateway in.

``Problem`` is raised anywhere on the request path and rendered once by the app.
Upstream errors arrive as a gRPC status whose ``grpc-status-details-bin`` trailer
holds a ``google.rpc.Status`` with ``ErrorInfo`` (the reason) and ``BadRequest``
(the fields at fault); ``from_rpc_error`` translates them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NewType

import grpc
from google.protobuf.message import DecodeError
from google.rpc import error_details_pb2, status_pb2

from toko.gateway.error_codes import ErrorCode
from toko.platform.error_codes import CommonReason, ReasonCode
from toko.platform.errors import DomainError, FieldViolation

# A reason an upstream service gave (its ErrorInfo, or else its status code's name), passed on unchanged:
# the one kind of reason that is not a ``ReasonCode`` member, since the gateway cannot know them all.
UpstreamReason = NewType("UpstreamReason", str)

PROBLEM_CONTENT_TYPE = b"application/problem+json"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

# The google.rpc code table (googleapis google/rpc/code.proto).
HTTP_STATUS_OF: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
}
# The gateway only abandons a call when its client has gone, and then answers nothing: a CANCELLED
# that reaches an answer came from the service's side (it dropped the call), so the client may retry.
_UPSTREAM_STATUS_OF = HTTP_STATUS_OF | {grpc.StatusCode.CANCELLED: 503}
# Reasons used when an upstream error carries no ErrorInfo.
_DEFAULT_REASON: dict[grpc.StatusCode, ReasonCode] = {
    grpc.StatusCode.CANCELLED: ErrorCode.SERVICE_UNAVAILABLE,
    grpc.StatusCode.UNAVAILABLE: ErrorCode.SERVICE_UNAVAILABLE,
    grpc.StatusCode.UNKNOWN: ErrorCode.INTERNAL,
    grpc.StatusCode.DATA_LOSS: ErrorCode.INTERNAL,
}
# Whatever an upstream says with these codes may be an exception's text: it stays inside.
_HIDDEN_DETAIL = frozenset({grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.DATA_LOSS})
_GENERIC_DETAIL: dict[grpc.StatusCode, str] = {
    grpc.StatusCode.UNAVAILABLE: "the service behind this route is unavailable; try again shortly",
    grpc.StatusCode.CANCELLED: "the service behind this route dropped the request; try again shortly",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the service behind this route did not answer in time",
}

# Reasons whose HTTP status is fixed by a standard rather than by the gRPC code table: the
# Idempotency-Key header draft (IETF httpapi) answers a key reused with another body 422, and a key
# whose first request is still being processed 409.
_STATUS_OF_REASON: dict[str, int] = {
    CommonReason.IDEMPOTENCY_KEY_REUSED: 422,
    CommonReason.IDEMPOTENCY_KEY_IN_USE: 409,
}

RETRY_UNAVAILABLE_AFTER = b"1"


@dataclass
class Problem(Exception):
    """An error answered to the client as ``application/problem+json``."""

    status: int
    reason: ReasonCode | UpstreamReason
    detail: str
    violations: list[FieldViolation] = field(default_factory=list)
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.detail)

    def __str__(self) -> str:
        return f"{self.status} {self.reason}: {self.detail}"

    def document(self, request_id: str) -> dict[str, Any]:
        """The RFC 9457 document, with toko's ``reason``, ``violations`` and ``requestId`` members."""
        body: dict[str, Any] = {
            "type": "urn:problem:toko:" + self.reason.lower().replace("_", "-"),
            "title": reason_phrase(self.status),
            "status": self.status,
            "detail": self.detail,
            "reason": self.reason,
        }
        if self.violations:
            body["violations"] = [
                {"field": v.field, "description": v.description, "reason": v.reason} for v in self.violations
            ]
        body["requestId"] = request_id
        return body


def reason_phrase(status: int) -> str:
    """The HTTP reason phrase of ``status`` (499 is nginx's, which gRPC's table borrows)."""
    if status == 499:
        return "Client Closed Request"
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def bad_request(reason: ReasonCode, detail: str, violations: Iterable[FieldViolation] = ()) -> Problem:
    """A 400 about the request's content."""
    return Problem(400, reason, detail, list(violations))


def from_domain_error(error: DomainError) -> Problem:
    """The problem a domain error raised at the edge (e.g. by the auth check) becomes."""
    status = _STATUS_OF_REASON.get(error.reason) or HTTP_STATUS_OF.get(error.code, 500)
    return Problem(status, error.reason, error.message, list(error.violations))


def from_rpc_error(error: grpc.aio.AioRpcError) -> Problem:
    """The problem an upstream's gRPC status becomes, reason and violations included."""
    code = error.code()
    status = _UPSTREAM_STATUS_OF.get(code, 500)
    reason = UpstreamReason("")
    violations: list[FieldViolation] = []
    details = _status_details(error.trailing_metadata())
    if details is not None:
        for detail in details.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = UpstreamReason(info.reason)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description, v.reason) for v in bad.field_violations
                )
    if code in _HIDDEN_DETAIL:
        message = "the service failed to handle the request; quote the request id when reporting it"
    elif not reason and code in _GENERIC_DETAIL:
        message = _GENERIC_DETAIL[code]
    else:
        message = error.details() or code.name.lower().replace("_", " ")
    status = _STATUS_OF_REASON.get(reason, status)
    # A 503 is worth retrying (a service restarting, its database failing over); say when (RFC 9110).
    headers = [(b"retry-after", RETRY_UNAVAILABLE_AFTER)] if status == 503 else []
    return Problem(
        status, reason or _DEFAULT_REASON.get(code) or UpstreamReason(code.name), message, violations, headers
    )


def _status_details(metadata: Any) -> status_pb2.Status | None:
    for key, value in metadata or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            try:
                return status_pb2.Status.FromString(value)
            except DecodeError:
                return None
    return None
