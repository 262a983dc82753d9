"""Just enough ASGI for the stand-ins' pages and JSON APIs: requests, responses, routes, and a uvicorn server.

The stand-ins answer a few GETs, POSTs and DELETEs each, so a web framework would add
more than it saves. A request's body is read before routing, within ``MAX_BODY_BYTES``
(``toko.platform.asgi.RequestBody`` counts it as it arrives): a larger one is answered 413.
uvicorn serves the app inside the sandbox's own event loop, beside the stand-ins' other
servers (SMTP…), on a socket bound here (so tests can use port 0).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson
import uvicorn

from toko.platform.asgi import BodyTooLarge, ClientGone, InvalidContentLength, RequestBody
from toko.platform.embedded_http import EmbeddedServer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# The stand-ins' APIs take small forms and JSON documents; nothing a courier or a page is sent comes close.
MAX_BODY_BYTES = 64 * 1024

# Pages need no script and may not be framed; the frames they hold (a message's HTML part) load images
# and inline styles only, since a srcdoc frame inherits this policy.
_PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "img-src data: http: https:",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@dataclass(frozen=True)
class Request:
    """An HTTP request as the endpoints need it: method, path, query, the path's variables, headers, body.

    Header names are lower case; a repeated header keeps its last value.
    """

    method: str
    path: str
    query: Mapping[str, str]
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def form(self) -> dict[str, str]:
        """The ``application/x-www-form-urlencoded`` body's fields (empty for another type or bad UTF-8)."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/x-www-form-urlencoded":
            return {}
        try:
            return dict(parse_qsl(self.body.decode(), keep_blank_values=True))
        except UnicodeDecodeError:
            return {}


@dataclass(frozen=True)
class Response:
    """An HTTP response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: Sequence[tuple[str, str]] = ()

    @classmethod
    def html(cls, page: str, status: int = 200) -> Response:
        """An HTML page."""
        return cls(status=status, body=page.encode(), content_type="text/html; charset=utf-8")

    @classmethod
    def json(cls, document: object, status: int = 200) -> Response:
        """A JSON document."""
        return cls(status=status, body=orjson.dumps(document), content_type="application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        """Plain text."""
        return cls(status=status, body=text.encode())

    def raw_headers(self) -> Iterator[tuple[bytes, bytes]]:
        """The headers to send, security headers included."""
        yield b"content-type", self.content_type.encode()
        yield b"content-length", str(len(self.body)).encode()
        yield b"x-content-type-options", b"nosniff"
        yield b"cache-control", b"no-store"
        if self.content_type.startswith("text/html"):
            yield b"content-security-policy", _PAGE_CSP.encode()
            yield b"x-frame-options", b"DENY"
            yield b"referrer-policy", b"no-referrer"
        for name, value in self.headers:
            yield name.encode("latin-1"), value.encode("latin-1")


Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    """``method`` on ``path``, where a ``{name}`` segment matches any one segment and binds it.

    A variable may be followed by a literal suffix (``{waybill}:advance``, as in custom methods).
    """

    method: str
    path: str
    endpoint: Endpoint

    def match(self, segments: Sequence[str]) -> dict[str, str] | None:
        """The path's variables when ``segments`` match this route's path, else None."""
        pattern = self.path.strip("/").split("/")
        if len(pattern) != len(segments):
            return None
        params: dict[str, str] = {}
        for expected, actual in zip(pattern, segments, strict=True):
            if expected.startswith("{") and "}" in expected:
                name, suffix = expected[1:].split("}", 1)
                if len(actual) <= len(suffix) or not actual.endswith(suffix):
                    return None
                params[name] = actual[: len(actual) - len(suffix)]
            elif expected != actual:
                return None
        return params


class Router:
    """An ASGI app dispatching to the first route matching the path and method (HEAD answers as GET)."""

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request."""
        if scope["type"] != "http":
            return
        method = scope["method"]
        raw_headers = dict(scope.get("headers", ()))
        try:
            body = await RequestBody(receive, raw_headers, MAX_BODY_BYTES).read()
        except ClientGone:
            return
        except BodyTooLarge:
            response = Response(status=413, body=b"request body too large", headers=[("connection", "close")])
        except InvalidContentLength:
            response = Response(status=400, body=b"invalid content-length", headers=[("connection", "close")])
        else:
            response = await self.respond(
                Request(
                    method="GET" if method == "HEAD" else method,
                    path=scope["path"],
                    query=dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"))),
                    headers={
                        name.decode("latin-1").lower(): value.decode("latin-1")
                        for name, value in raw_headers.items()
                    },
                    body=body,
                )
            )
        headers = list(response.raw_headers())
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else response.body})

    async def respond(self, request: Request) -> Response:
        """The response of the route for ``request``: 404 when no path matches, 405 when no method does."""
        segments = request.path.strip("/").split("/")
        allowed: list[str] = []
        for route in self.routes:
            params = route.match(segments)
            if params is None:
                continue
            if route.method == request.method:
                return await route.endpoint(dataclasses.replace(request, params=params))
            allowed.append(route.method)
        if allowed:
            return Response(status=405, body=b"method not allowed", headers=[("allow", ", ".join(allowed))])
        return Response(status=404, body=b"not found")


@dataclass
class HttpServer:
    """An ASGI app served by uvicorn in the running loop, from ``start`` until ``stop``."""

    server: uvicorn.Server
    sock: socket.socket
    task: asyncio.Task[None]

    @classmethod
    async def start(cls, app: Router, *, host: str, port: int, grace: float) -> HttpServer:
        """Listen on ``host:port`` and serve ``app``; requests queue on the socket until uvicorn is up."""
        # Bound here rather than by uvicorn, so a taken port fails the start and port 0 is known at once.
        sock = socket.create_server((host, port))
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=max(1, round(grace)),
        )
        server = EmbeddedServer(config)
        return cls(server, sock, asyncio.create_task(server.serve(sockets=[sock]), name="sandbox-http"))

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.sock.getsockname()[1])

    async def stop(self) -> None:
        """Stop taking requests and finish those in flight."""
        self.server.should_exit = True
        await self.task
        self.sock.close()
