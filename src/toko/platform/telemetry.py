"""OpenTelemetry export, switched on by ``TOKO_OTEL_ENABLED``.

Off by default: trace ids still travel (W3C ``traceparent`` through gRPC
metadata and event envelopes) and appear on every log line. Turned on, every
RPC a service serves becomes a SERVER span, child of the caller's span, sent to
an OTLP collector; the span's id is what travels on to events and further calls.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from toko.platform.context import TraceContext
from toko.platform.settings import ServiceSettings

log = logging.getLogger(__name__)


def configure_tracing(
    service: str, settings: ServiceSettings, exporter: SpanExporter | None = None
) -> trace.Tracer | None:
    """A tracer exporting spans when export is on (or an exporter is given, in tests); else None."""
    if not settings.otel_enabled and exporter is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": f"toko-{service}"}))
    if exporter is None:
        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint, insecure=True))
        )
        log.info("opentelemetry export on", extra={"endpoint": settings.otel_endpoint})
    else:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("toko")


@contextmanager
def server_span(tracer: trace.Tracer, name: str, parent: TraceContext) -> Iterator[TraceContext]:
    """A SERVER span under the caller's span; yields the trace context to pass on downstream."""
    remote = SpanContext(
        trace_id=int(parent.trace_id, 16),
        span_id=int(parent.parent_id, 16),
        is_remote=True,
        trace_flags=TraceFlags(int(parent.flags, 16)),
    )
    context = trace.set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_span(
        name, context=context, kind=SpanKind.SERVER, record_exception=False, set_status_on_exception=False
    ) as span:
        own = span.get_span_context()
        try:
            yield TraceContext(parent.trace_id, format(own.span_id, "016x"), parent.flags, parent.tracestate)
        except BaseException as exc:
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
