"""The gRPC side: one channel per upstream address, a cached generic callable per method, health checks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any, cast

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2

from toko.platform.grpc import CLIENT_KEEPALIVE_MS

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
_CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    # Idle connections to a service are kept warm so the first request after a lull is not slow.
    ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_receive_message_length", 16 * 1024 * 1024),
]

UnaryCall = grpc.aio.UnaryUnaryMultiCallable[Message, Message]


class UnknownUpstream(LookupError):
    """No address is configured for a service."""


class Upstreams:
    """Channels to the services behind the gateway, made on first use inside the running event loop."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._calls: dict[str, UnaryCall] = {}
        self._streams: dict[str, Any] = {}

    @property
    def services(self) -> list[str]:
        """Full names of the services that have an address."""
        return list(self._targets)

    def channel(self, service: str) -> grpc.aio.Channel:
        """The channel to ``service``'s address, shared by every service at that address."""
        target = self._targets.get(service)
        if target is None:
            raise UnknownUpstream(service)
        channel = self._channels.get(target)
        if channel is None:
            channel = grpc.aio.insecure_channel(target, options=_CHANNEL_OPTIONS)
            self._channels[target] = channel
        return channel

    def unary(
        self,
        service: str,
        path: str,
        serializer: Callable[[Message], bytes],
        deserializer: Callable[[bytes], Message],
    ) -> UnaryCall:
        """The cached callable of the RPC at ``path`` (``/pkg.Service/Method``)."""
        call = self._calls.get(path)
        if call is None:
            # A registered method skips the per-call method lookup inside gRPC core.
            call = cast(Any, self.channel(service)).unary_unary(
                path,
                request_serializer=serializer,
                response_deserializer=deserializer,
                _registered_method=True,
            )
            self._calls[path] = call
        return call

    def stream(
        self,
        service: str,
        path: str,
        serializer: Callable[[Message], bytes],
        deserializer: Callable[[bytes], Message],
    ) -> Any:
        """The cached callable of the server-streaming RPC at ``path``."""
        call = self._streams.get(path)
        if call is None:
            call = cast(Any, self.channel(service)).unary_stream(
                path,
                request_serializer=serializer,
                response_deserializer=deserializer,
                _registered_method=True,
            )
            self._streams[path] = call
        return call

    async def health(self, deadline: float) -> dict[str, str]:
        """Each service's status (``SERVING``, ``UNREACHABLE``…), all checked at once within ``deadline``."""
        by_target: dict[str, list[str]] = {}
        for service, target in self._targets.items():
            by_target.setdefault(target, []).append(service)
        statuses = await asyncio.gather(
            *(self._check(services[0], deadline) for services in by_target.values())
        )
        return {
            service: status
            for services, status in zip(by_target.values(), statuses, strict=True)
            for service in services
        }

    async def _check(self, service: str, deadline: float) -> str:
        check = self.channel(service).unary_unary(
            HEALTH_CHECK,
            request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
            response_deserializer=health_pb2.HealthCheckResponse.FromString,
        )
        try:
            response = await check(health_pb2.HealthCheckRequest(service=""), timeout=deadline)
        except grpc.aio.AioRpcError as error:
            if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                return "TIMEOUT"
            return "UNREACHABLE" if error.code() == grpc.StatusCode.UNAVAILABLE else error.code().name
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def close(self, grace: float | None = None) -> None:
        """Close every channel, letting calls in flight finish for up to ``grace`` seconds."""
        channels = list(self._channels.values())
        self._channels.clear()
        self._calls.clear()
        await asyncio.gather(*(channel.close(grace) for channel in channels))
