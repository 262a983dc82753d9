"""Server-streaming RPCs served as Server-Sent Events (``text/event-stream``).

A route whose RPC streams its responses (payment's ``WatchPayment``) is answered with one SSE event per
message: ``id: <n>`` and ``data: <the message as proto3 JSON>``. An error before the first message is
an ordinary problem document with its status, since nothing was sent yet; after it, the stream ends
with an ``event: error`` whose data is the problem document. While the service is silent a comment
line goes out every ``heartbeat`` seconds, so proxies and browsers keep the connection open, and a
client that goes away cancels the upstream call at once rather than when the next message comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import grpc
import orjson
from google.protobuf.message import Message

from toko.gateway.error_codes import ErrorCode
from toko.gateway.problems import Problem, from_rpc_error
from toko.platform.asgi import Receive, Send

__all__ = ["EVENT_STREAM", "relay_stream"]

EVENT_STREAM = b"text/event-stream"
_HEARTBEAT = b": keep-alive\n\n"


async def relay_stream(
    call: Any,
    *,
    render: Callable[[Message], bytes],
    send: Send,
    receive: Receive,
    headers: list[tuple[bytes, bytes]],
    request_id: str,
    heartbeat: float,
) -> int:
    """Relay ``call`` (a started ``grpc.aio`` unary-stream call) to the client; the HTTP status sent.

    Raises ``Problem`` when the call fails before its first message, so the caller answers it as
    any other error.
    """
    try:
        first = await call.read()
    except grpc.aio.AioRpcError as error:
        raise from_rpc_error(error) from error
    if first is grpc.aio.EOF:
        raise Problem(502, ErrorCode.EMPTY_STREAM, "the service ended the stream without an answer")
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", EVENT_STREAM),
                (b"cache-control", b"no-cache"),
                # Tells a buffering reverse proxy (nginx) to pass each event on at once.
                (b"x-accel-buffering", b"no"),
                *headers,
            ],
        }
    )
    watcher = asyncio.create_task(_until_disconnect(receive))
    try:
        await _send_event(send, 1, render(first))
        await _relay_rest(
            call, render=render, send=send, watcher=watcher, heartbeat=heartbeat, request_id=request_id
        )
    finally:
        watcher.cancel()
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    return 200


async def _relay_rest(
    call: Any,
    *,
    render: Callable[[Message], bytes],
    send: Send,
    watcher: asyncio.Task[None],
    heartbeat: float,
    request_id: str,
) -> None:
    sequence = 1
    while True:
        reading = asyncio.ensure_future(call.read())
        while True:
            done, _ = await asyncio.wait(
                {reading, watcher}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
            )
            if watcher in done:
                reading.cancel()
                return
            if reading in done:
                break
            await send({"type": "http.response.body", "body": _HEARTBEAT, "more_body": True})
        try:
            message = reading.result()
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.CANCELLED:
                problem = from_rpc_error(error)
                await _send_error(send, problem.document(request_id))
            break
        if message is grpc.aio.EOF:
            break
        sequence += 1
        await _send_event(send, sequence, render(message))
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _send_event(send: Send, sequence: int, data: bytes) -> None:
    # proto3 JSON from orjson has no newlines, so each message is one data line.
    frame = b"id: %d\ndata: %s\n\n" % (sequence, data)
    await send({"type": "http.response.body", "body": frame, "more_body": True})


async def _send_error(send: Send, document: dict[str, Any]) -> None:
    frame = b"event: error\ndata: %s\n\n" % orjson.dumps(document)
    await send({"type": "http.response.body", "body": frame, "more_body": True})
