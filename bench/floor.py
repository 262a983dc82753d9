"""The floor of the architecture: HTTP in, one ``grpc.aio`` hop, JSON out, with nothing of toko's in it.

A bare ASGI app on granian (one worker, uvloop, as the gateway is served) that answers every request
by calling a bare ``grpc.aio`` echo server (no interceptor, uvloop, as services are run) and writing
its reply as JSON: no routing, tokens, rate limit, logging, deadlines or problems. Driven by the same
k6 script, connections and duration as (a) and (b) in the same run, it shows what any implementation
of DESIGN.md §1 (gateway → gRPC → service, one process each) costs on these cores with k6 on them, so
the figures of the real paths read against it (ADR 9).

``Floor()`` starts both in child processes on free ports; ``url`` is the one URL to load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

import grpc
import httpx
import orjson
import uvloop
from granian import Granian
from granian.constants import HTTPModes, Interfaces, Loops

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.infra.netcheck import free_port

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

_ECHO_ADDRESS = "FLOOR_ECHO_ADDRESS"


class _Echo(echo_pb2_grpc.EchoServiceServicer):
    async def Echo(self, request: echo_pb2.EchoRequest, context: Any) -> echo_pb2.EchoResponse:
        return echo_pb2.EchoResponse(message=request.message)


async def _serve_echo(port: int) -> None:
    server = grpc.aio.server()
    echo_pb2_grpc.add_EchoServiceServicer_to_server(_Echo(), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    await server.wait_for_termination()


class _App:
    """The ASGI app: one echo call per request."""

    def __init__(self) -> None:
        self._call: grpc.aio.UnaryUnaryMultiCallable[echo_pb2.EchoRequest, echo_pb2.EchoResponse] | None = (
            None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if self._call is None:
            # Made inside the worker's running loop, as the gateway makes its channels.
            channel = grpc.aio.insecure_channel(os.environ[_ECHO_ADDRESS])
            self._call = cast(Any, channel).unary_unary(
                "/toko.echo.v1.EchoService/Echo",
                request_serializer=echo_pb2.EchoRequest.SerializeToString,
                response_deserializer=echo_pb2.EchoResponse.FromString,
                _registered_method=True,
            )
        reply = await self._call(echo_pb2.EchoRequest(message="halo"), timeout=5)
        body = orjson.dumps({"message": reply.message})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def app_factory() -> _App:
    """What granian serves in the floor's HTTP process."""
    return _App()


class Floor:
    """The bare HTTP → gRPC echo pair, in two child processes, until ``stop``."""

    def __init__(self) -> None:
        echo_port, http_port = free_port(), free_port()
        command = [sys.executable, "-m", "bench.floor"]
        env = os.environ | {_ECHO_ADDRESS: f"127.0.0.1:{echo_port}"}
        self._processes = [
            subprocess.Popen([*command, "echo", str(echo_port)], env=env),
            subprocess.Popen([*command, "http", str(http_port)], env=env),
        ]
        self.url = f"http://127.0.0.1:{http_port}/echo/halo"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(self.url, timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or any(p.poll() is not None for p in self._processes):
                self.stop()
                raise SystemExit("the floor's HTTP → gRPC echo pair did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def main(role: str, port: int) -> None:
    if role == "echo":
        uvloop.run(_serve_echo(port))
        return
    Granian(
        target="bench.floor:app_factory",
        factory=True,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=1,
        loop=Loops.uvloop,
        http=HTTPModes.auto,
        log_access=False,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
