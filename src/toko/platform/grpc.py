"""gRPC server factory and the interceptor every RPC goes through.

``create_server`` builds a ``grpc.aio`` server with the standard health service,
reflection, and one interceptor that, for each call:

- takes the request id and W3C trace context from metadata (or starts new ones),
- records the deadline so outgoing calls inherit it,
- authenticates the caller and enforces the RPC's declared access rule
  (the gateway already did; a call that bypassed it is held to the same rule),
- refuses a request whose strings carry a NUL character, which PostgreSQL cannot store
  (``NUL_CHARACTER``), or whose timestamps lie beyond what arithmetic on them can hold
  (``TIMESTAMP_OUT_OF_RANGE``), naming the fields (``toko.platform.inputs``),
- turns ``DomainError`` into ``google.rpc.Status`` with ``ErrorInfo`` and
  ``BadRequest`` details, a database or cache out of reach (a restart, a failover)
  into a retryable UNAVAILABLE (``DEPENDENCY_UNAVAILABLE``), a transaction PostgreSQL
  rolled back for a concurrent one (a deadlock) into a retryable ABORTED
  (``TRANSACTION_CONFLICT``), and anything else unexpected into a logged INTERNAL,
- writes one access log line.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.descriptor import ServiceDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from toko.platform.auth import AccessRule, Authenticator, authenticate
from toko.platform.context import (
    TraceContext,
    deadline_var,
    idempotency_key_var,
    principal_var,
    request_id_var,
    trace_var,
)
from toko.platform.errors import ERROR_DOMAIN, DomainError, FieldViolation, as_retryable
from toko.platform.ids import new_id
from toko.platform.inputs import request_violations
from toko.platform.telemetry import server_span
from toko.platform.validation import invalid

log = logging.getLogger("toko.grpc")
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# Clients (the gateway) ping idle connections this often to keep them warm. A server refuses pings on a
# connection without calls more often than every 5 minutes by default, and after two such pings closes it
# (GOAWAY "too_many_pings"), failing the calls then in flight: servers here accept them at half that
# interval.
CLIENT_KEEPALIVE_MS = 30_000


@dataclass(frozen=True)
class GrpcService:
    """A servicer and how to add it to a server."""

    descriptor: ServiceDescriptor
    servicer: object
    register: Callable[[Any, grpc.aio.Server], None]


def status_of(error: DomainError, service: str) -> status_pb2.Status:
    """The ``google.rpc.Status`` a domain error travels as."""
    info = AnyMessage()
    info.Pack(
        error_details_pb2.ErrorInfo(
            reason=error.reason, domain=f"{ERROR_DOMAIN}.{service}", metadata=error.metadata
        )
    )
    details = [info]
    if error.violations:
        bad_request = AnyMessage()
        bad_request.Pack(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description, reason=v.reason
                    )
                    for v in error.violations
                ]
            )
        )
        details.append(bad_request)
    return status_pb2.Status(code=error.code.value[0], message=error.message, details=details)


def refusal_of(error: grpc.aio.AioRpcError) -> tuple[str, list[FieldViolation]]:
    """What another service's failed call said, as ``status_of`` wrote it: its reason and field violations.

    For a client of another toko service that branches on why a call was refused; ``("", [])`` when
    the failure carries no details (a transport error, a deadline).
    """
    reason, violations = "", []
    for key, value in error.trailing_metadata() or ():
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        for detail in status_pb2.Status.FromString(value).details:
            info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
            if detail.Unpack(info):
                reason = info.reason
            elif detail.Unpack(bad_request):
                violations += [
                    FieldViolation(v.field, v.description, v.reason) for v in bad_request.field_violations
                ]
    return reason, violations


def _metadata_value(metadata: Any, key: str) -> str | None:
    for name, value in metadata or ():
        if name == key:
            return value if isinstance(value, str) else value.decode()
    return None


class ContextInterceptor(grpc.aio.ServerInterceptor):
    """Request context, access control, error mapping and access logging for every RPC."""

    def __init__(
        self,
        service: str,
        rules: dict[str, AccessRule],
        authenticator: Authenticator,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self._service = service
        self._rules = rules
        self._authenticator = authenticator
        self._tracer = tracer
        # Wrapped handlers are built once per method: the hot path allocates no closures.
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        rule = self._rules.get(method)
        if handler is None or rule is None:
            # Health and reflection pass through untouched.
            return handler
        if handler.unary_unary is not None:
            wrapped = grpc.unary_unary_rpc_method_handler(
                self._wrap(method, rule, handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        elif handler.unary_stream is not None:
            wrapped = grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(method, rule, handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        else:
            return handler
        self._wrapped[method] = wrapped
        return wrapped

    def _wrap(
        self, method: str, rule: AccessRule, behaviour: Callable[[Any, Any], Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            started = time.perf_counter()
            outcome = "OK"
            try:
                caller_trace = await self._admit(request, context, rule)
                if self._tracer is None:
                    return await behaviour(request, context)
                with server_span(self._tracer, method, caller_trace) as span_trace:
                    trace_var.set(span_trace)
                    return await behaviour(request, context)
            except (asyncio.CancelledError, grpc.aio.AbortError):
                outcome = "CANCELLED"
                raise
            except Exception as error:
                code, message, status = self._failure(error, method)
                outcome = code.name
                await context.abort(
                    code, message, trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),)
                )
            finally:
                _log_rpc(method, outcome, started)

        return call

    def _wrap_stream(
        self, method: str, rule: AccessRule, behaviour: Callable[[Any, Any], Any]
    ) -> Callable[[Any, grpc.aio.ServicerContext[Any, Any]], AsyncIterator[Any]]:
        """A server-streaming RPC held to the same access rule, validation and error mapping."""

        async def call(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            started = time.perf_counter()
            outcome = "OK"
            try:
                await self._admit(request, context, rule)
                async for reply in behaviour(request, context):
                    yield reply
            except (asyncio.CancelledError, grpc.aio.AbortError, GeneratorExit):
                outcome = "CANCELLED"
                raise
            except Exception as error:
                code, message, status = self._failure(error, method)
                outcome = code.name
                await context.abort(
                    code, message, trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),)
                )
            finally:
                _log_rpc(method, outcome, started)

        return call

    async def _admit(
        self, request: Any, context: grpc.aio.ServicerContext[Any, Any], rule: AccessRule
    ) -> TraceContext:
        """Set the request's context, authenticate the caller and check the rule and the request."""
        metadata = context.invocation_metadata()
        request_id_var.set(_metadata_value(metadata, "x-request-id") or new_id())
        caller_trace = (
            TraceContext.parse(
                _metadata_value(metadata, "traceparent"), _metadata_value(metadata, "tracestate")
            )
            or TraceContext.new()
        )
        trace_var.set(caller_trace)
        idempotency_key_var.set(_metadata_value(metadata, "idempotency-key") or "")
        remaining = context.time_remaining()
        deadline_var.set(time.monotonic() + remaining if remaining is not None else None)
        principal = await authenticate(self._authenticator, _metadata_value(metadata, "authorization"))
        rule.check(principal)
        principal_var.set(principal)
        if violations := request_violations(request):
            raise invalid(violations)
        return caller_trace

    def _failure(self, error: Exception, method: str) -> tuple[grpc.StatusCode, str, status_pb2.Status]:
        """The status an exception ends the call with; logs what is not the caller's fault."""
        if isinstance(error, DomainError):
            return error.code, error.message, status_of(error, self._service)
        retryable = as_retryable(error)
        if retryable is not None:
            # Not a bug: the database or cache was out of reach (a restart, a failover), or
            # PostgreSQL rolled the transaction back for a concurrent one. Nothing was written;
            # writes are safe to retry with their idempotency key.
            log.warning("%s in %s", retryable.reason, method, exc_info=True)
            return retryable.code, retryable.message, status_of(retryable, self._service)
        log.exception("unhandled error in %s", method)
        return (
            grpc.StatusCode.INTERNAL,
            "internal error",
            status_pb2.Status(code=code_pb2.INTERNAL, message="internal error"),
        )


def _log_rpc(method: str, outcome: str, started: float) -> None:
    log.info(
        "rpc",
        extra={
            "method": method,
            "code": outcome,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


def access_rules(services: Sequence[GrpcService]) -> dict[str, AccessRule]:
    """The access rule of every method, keyed by its full gRPC path."""
    return {
        f"/{service.descriptor.full_name}/{method.name}": AccessRule.of(method)
        for service in services
        for method in service.descriptor.methods
    }


@dataclass
class GrpcServer:
    """A started gRPC server with its health service."""

    server: grpc.aio.Server
    health: health_aio.HealthServicer
    port: int
    services: Sequence[GrpcService]

    async def set_serving(self, serving: bool) -> None:
        """Report (not) serving for the whole server and each service."""
        status = (
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        await self.health.set("", status)
        for service in self.services:
            await self.health.set(service.descriptor.full_name, status)

    async def stop(self, grace: float) -> None:
        """Stop taking calls, let calls in flight finish within ``grace`` seconds."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


# Calls a server holds before its handlers take them (see ``start_server``).
MAX_PENDING_CALLS = 20_000


async def start_server(
    services: Sequence[GrpcService],
    *,
    service_name: str,
    authenticator: Authenticator,
    host: str = "127.0.0.1",
    port: int = 0,
    tracer: trace.Tracer | None = None,
) -> GrpcServer:
    """Build and start a server; port 0 picks a free port (tests)."""
    server = grpc.aio.server(
        interceptors=[ContextInterceptor(service_name, access_rules(services), authenticator, tracer)],
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * 1024 * 1024),
            ("grpc.keepalive_permit_without_calls", 1),
            ("grpc.http2.min_ping_interval_without_data_ms", CLIENT_KEEPALIVE_MS // 2),
            # gRPC core cancels calls waiting for the application beyond 1,000 (CANCELLED, which the
            # gateway could only pass on as an error): a flash sale's rush is thousands of quick calls at
            # once on the gateway's connection. Waiting calls stay bounded by their deadlines.
            ("grpc.server.max_pending_requests", MAX_PENDING_CALLS),
            ("grpc.server.max_pending_requests_hard_limit", 2 * MAX_PENDING_CALLS),
        ],
    )
    for service in services:
        service.register(service.servicer, server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    reflection.enable_server_reflection(
        [s.descriptor.full_name for s in services] + [reflection.SERVICE_NAME, "grpc.health.v1.Health"],
        server,
    )
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot listen on {host}:{port}")
    await server.start()
    started = GrpcServer(server=server, health=health, port=bound, services=services)
    await started.set_serving(True)
    return started


def stop_signal() -> asyncio.Event:
    """An event set on SIGTERM or SIGINT, for a service's main loop to wait on."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    return stop
