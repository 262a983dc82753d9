"""Echo servicer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.platform.errors import FieldViolation, InvalidArgument
from toko.services.echo.error_codes import ErrorCode

MAX_MESSAGE_LENGTH = 256
MAX_STREAM_COUNT = 100
MAX_STREAM_INTERVAL_MS = 10_000


class EchoServicer(echo_pb2_grpc.EchoServiceServicer):
    """Answers with the message it was sent."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: Any) -> echo_pb2.EchoResponse:
        """Return the message."""
        if len(request.message) > MAX_MESSAGE_LENGTH:
            raise InvalidArgument.field(
                "message", f"at most {MAX_MESSAGE_LENGTH} characters", ErrorCode.MESSAGE_TOO_LONG
            )
        return echo_pb2.EchoResponse(message=request.message)

    async def EchoStream(
        self, request: echo_pb2.EchoStreamRequest, context: Any
    ) -> AsyncIterator[echo_pb2.EchoStreamResponse]:
        """Send the message back ``count`` times, ``interval_ms`` apart."""
        violations = []
        if len(request.message) > MAX_MESSAGE_LENGTH:
            violations.append(
                FieldViolation(
                    "message", f"at most {MAX_MESSAGE_LENGTH} characters", ErrorCode.MESSAGE_TOO_LONG
                )
            )
        if not 1 <= request.count <= MAX_STREAM_COUNT:
            violations.append(
                FieldViolation("count", f"1 to {MAX_STREAM_COUNT}", ErrorCode.COUNT_OUT_OF_RANGE)
            )
        if not 0 <= request.interval_ms <= MAX_STREAM_INTERVAL_MS:
            violations.append(
                FieldViolation(
                    "interval_ms", f"0 to {MAX_STREAM_INTERVAL_MS}", ErrorCode.INTERVAL_OUT_OF_RANGE
                )
            )
        if violations:
            raise InvalidArgument.of(violations)
        for sent in range(request.count):
            if sent:
                await asyncio.sleep(request.interval_ms / 1000)
            yield echo_pb2.EchoStreamResponse(message=request.message)
