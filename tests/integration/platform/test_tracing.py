"""OpenTelemetry spans: each RPC becomes a SERVER span under the caller's W3C trace context."""

import grpc
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.platform.service import start_service
from toko.platform.telemetry import configure_tracing
from toko.services.echo.bootstrap import bootstrap
from toko.services.echo.settings import EchoSettings

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


async def test_an_rpc_is_a_server_span_child_of_the_callers_span() -> None:
    exporter = InMemorySpanExporter()
    settings = EchoSettings(port=0)
    running = await start_service(
        await bootstrap(settings), settings, configure_tracing("echo", settings, exporter=exporter)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            await echo_pb2_grpc.EchoServiceStub(channel).Echo(
                echo_pb2.EchoRequest(message="halo"),
                metadata=(("traceparent", f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"),),
            )
    finally:
        await running.stop(0.5)
    [span] = exporter.get_finished_spans()
    assert span.name == "/toko.echo.v1.EchoService/Echo"
    assert span.kind == SpanKind.SERVER
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == CALLER_SPAN


def test_export_is_off_unless_switched_on() -> None:
    assert configure_tracing("echo", EchoSettings()) is None
