"""OpenTelemetry export, switched on by ``TOKO_OTEL_ENABLED``.

Off by default: trace ids still travel (W3C ``traceparent`` through gRPC
metadata and event envelopes) and appear on every log line; turning export on
sends spans to an OTLP collector as well.
"""

from __future__ import annotations

import logging

from toko.platform.settings import ServiceSettings

log = logging.getLogger(__name__)


def configure_tracing(service: str, settings: ServiceSettings) -> bool:
    """Install an OTLP span exporter when enabled; True when export is on."""
    if not settings.otel_enabled:
        return False
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"toko-{service}"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otel_endpoint, insecure=True))
    )
    trace.set_tracer_provider(provider)
    log.info("opentelemetry export on", extra={"endpoint": settings.otel_endpoint})
    return True
