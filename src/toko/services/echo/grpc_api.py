"""Echo servicer."""

from __future__ import annotations

from typing import Any

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.platform.errors import InvalidArgument
from toko.services.echo.error_codes import ErrorCode

MAX_MESSAGE_LENGTH = 256


class EchoServicer(echo_pb2_grpc.EchoServiceServicer):
    """Answers with the message it was sent."""

    async def Echo(self, request: echo_pb2.EchoRequest, context: Any) -> echo_pb2.EchoResponse:
        """Return the message."""
        if len(request.message) > MAX_MESSAGE_LENGTH:
            raise InvalidArgument.field(
                "message", f"at most {MAX_MESSAGE_LENGTH} characters", ErrorCode.MESSAGE_TOO_LONG
            )
        return echo_pb2.EchoResponse(message=request.message)
