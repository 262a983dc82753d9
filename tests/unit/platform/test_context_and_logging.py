"""Trace context parsing and JSON log lines."""

import logging

import orjson
import pytest

from toko.platform.context import TraceContext, request_id_var, trace_var
from toko.platform.logging import JsonFormatter

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_round_trips() -> None:
    trace = TraceContext.parse(VALID, "vendor=1")
    assert trace is not None
    assert trace.traceparent == VALID
    child = trace.child()
    assert child.trace_id == trace.trace_id
    assert child.parent_id != trace.parent_id


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "01-xyz-abc-01"],
)
def test_invalid_traceparent_is_ignored(header: str | None) -> None:
    assert TraceContext.parse(header) is None


def test_log_lines_are_json_with_request_and_trace_ids_and_no_secrets() -> None:
    request_token = request_id_var.set("req-1")
    trace_token = trace_var.set(TraceContext.parse(VALID))
    record = logging.LogRecord("toko.test", logging.INFO, __file__, 1, "hello %s", ("world",), None)
    record.authorization = "Bearer secret"
    record.product_id = "p1"
    try:
        line = orjson.loads(JsonFormatter("product").format(record))
    finally:
        request_id_var.reset(request_token)
        trace_var.reset(trace_token)
    assert line["message"] == "hello world"
    assert line["service"] == "product"
    assert line["request_id"] == "req-1"
    assert line["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert line["product_id"] == "p1"
    assert line["authorization"] == "[redacted]"
