"""gRPC statuses (with rich details) become RFC 9457 problem documents."""

from __future__ import annotations

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.rpc import error_details_pb2, status_pb2

from toko.gateway.problems import HTTP_STATUS_OF, Problem, from_rpc_error
from toko.platform.errors import FieldViolation


def _rpc_error(code: grpc.StatusCode, message: str, *details: object) -> grpc.aio.AioRpcError:
    packed = []
    for detail in details:
        item = AnyMessage()
        item.Pack(detail)  # type: ignore[arg-type]
        packed.append(item)
    status = status_pb2.Status(code=code.value[0], message=message, details=packed)
    trailers = grpc.aio.Metadata(("grpc-status-details-bin", status.SerializeToString()))
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailers, details=message)


def test_reason_and_violations_come_from_error_info_and_bad_request() -> None:
    error = _rpc_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        "invalid request: title: too short",
        error_details_pb2.ErrorInfo(reason="VALIDATION_FAILED", domain="toko.product"),
        error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field="title", description="too short", reason="TITLE_TOO_SHORT"
                )
            ]
        ),
    )
    problem = from_rpc_error(error)
    assert problem.status == 400
    assert problem.reason == "VALIDATION_FAILED"
    assert problem.detail == "invalid request: title: too short"
    assert problem.violations == [FieldViolation("title", "too short", "TITLE_TOO_SHORT")]


def test_without_details_the_code_is_the_reason_and_internals_stay_hidden() -> None:
    assert from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "no such product")).reason == "NOT_FOUND"
    unavailable = from_rpc_error(
        _rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    )
    assert (unavailable.status, unavailable.reason) == (503, "SERVICE_UNAVAILABLE")
    internal = from_rpc_error(_rpc_error(grpc.StatusCode.UNKNOWN, "Unexpected <class 'KeyError'>: 'x'"))
    assert (internal.status, internal.reason) == (500, "INTERNAL")
    assert "KeyError" not in internal.detail


def test_a_call_the_service_dropped_is_a_retryable_503() -> None:
    dropped = from_rpc_error(_rpc_error(grpc.StatusCode.CANCELLED, "CANCELLED"))
    assert (dropped.status, dropped.reason) == (503, "SERVICE_UNAVAILABLE")
    assert "try again" in dropped.detail


def test_code_table_follows_google_rpc() -> None:
    expected = {
        "INVALID_ARGUMENT": 400,
        "FAILED_PRECONDITION": 400,
        "OUT_OF_RANGE": 400,
        "UNAUTHENTICATED": 401,
        "PERMISSION_DENIED": 403,
        "NOT_FOUND": 404,
        "ABORTED": 409,
        "ALREADY_EXISTS": 409,
        "RESOURCE_EXHAUSTED": 429,
        "CANCELLED": 499,
        "DATA_LOSS": 500,
        "UNKNOWN": 500,
        "INTERNAL": 500,
        "UNIMPLEMENTED": 501,
        "UNAVAILABLE": 503,
        "DEADLINE_EXCEEDED": 504,
    }
    assert {code.name: status for code, status in HTTP_STATUS_OF.items() if code.name != "OK"} == expected


def test_document_shape() -> None:
    problem = Problem(409, "SLUG_TAKEN", "the slug is taken", [FieldViolation("slug", "taken", "SLUG_TAKEN")])
    assert problem.document("r1") == {
        "type": "urn:problem:toko:slug-taken",
        "title": "Conflict",
        "status": 409,
        "detail": "the slug is taken",
        "reason": "SLUG_TAKEN",
        "violations": [{"field": "slug", "description": "taken", "reason": "SLUG_TAKEN"}],
        "requestId": "r1",
    }
    assert "violations" not in Problem(404, "NOT_FOUND", "gone").document("r2")


def test_an_unavailable_dependency_is_a_503_to_retry_shortly() -> None:
    error = _rpc_error(
        grpc.StatusCode.UNAVAILABLE,
        "a dependency was unavailable; retry",
        error_details_pb2.ErrorInfo(reason="DEPENDENCY_UNAVAILABLE", domain="toko.product"),
    )
    problem = from_rpc_error(error)
    assert (problem.status, problem.reason) == (503, "DEPENDENCY_UNAVAILABLE")
    assert (b"retry-after", b"1") in problem.headers
    assert not from_rpc_error(_rpc_error(grpc.StatusCode.NOT_FOUND, "no product")).headers


def test_idempotency_key_answers_follow_the_ietf_draft() -> None:
    reused = from_rpc_error(
        _rpc_error(
            grpc.StatusCode.FAILED_PRECONDITION,
            "this idempotency key was already used for a different request",
            error_details_pb2.ErrorInfo(reason="IDEMPOTENCY_KEY_REUSED", domain="toko.order"),
        )
    )
    running = from_rpc_error(
        _rpc_error(
            grpc.StatusCode.ABORTED,
            "a request with this idempotency key is being processed",
            error_details_pb2.ErrorInfo(reason="IDEMPOTENCY_KEY_IN_USE", domain="toko.order"),
        )
    )
    assert (reused.status, reused.reason) == (422, "IDEMPOTENCY_KEY_REUSED")
    assert (running.status, running.reason) == (409, "IDEMPOTENCY_KEY_IN_USE")
