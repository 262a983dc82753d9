"""Just enough ASGI for the provider's endpoints: a request, a response, and a uvicorn server in our loop.

The endpoints are a handful of form posts and JSON documents, so a web
framework would add more than it saves; the HTTP plumbing they share with the
gateway (the body within its limit, HEAD, sending) is ``toko.platform.asgi``.
uvicorn serves the app inside the service's own event loop, next to the gRPC
server, on a socket the service binds itself (so tests can use port 0);
uvicorn's proxy-headers support takes the client address from
``X-Forwarded-For`` when the peer is the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from urllib.parse import parse_qsl

import orjson
import uvicorn

from toko.platform.asgi import App, Receive, RequestBody, Scope, Send, send_response
from toko.platform.embedded_http import EmbeddedServer
from toko.platform.inputs import NUL

MAX_BODY_BYTES = 64 * 1024
# The pages need no script and may not be framed (clickjacking of the consent button); a form may post
# to us and the redirect after it may go to a client's registered URI.
_PAGE_CSP = "; ".join(
    [
        "default-src 'none'",
        "style-src 'unsafe-inline'",
        "form-action 'self' http: https:",
        "frame-ancestors 'none'",
    ]
).encode()


class NulInParameters(Exception):
    """A query or form parameter holds a NUL character, which PostgreSQL cannot store."""


def parse_parameters(encoded: str) -> list[tuple[str, str]]:
    """``application/x-www-form-urlencoded`` pairs in order; ``NulInParameters`` if one holds a NUL."""
    pairs = parse_qsl(encoded, keep_blank_values=True)
    if any(NUL in name or NUL in value for name, value in pairs):
        raise NulInParameters
    return pairs


def single(pairs: list[tuple[str, str]]) -> tuple[dict[str, str], set[str]]:
    """Parameters as a dict, and the names that appeared more than once (RFC 6749 §3.1 forbids it)."""
    values: dict[str, str] = {}
    repeated: set[str] = set()
    for name, value in pairs:
        if name in values:
            repeated.add(name)
        values[name] = value
    return values, repeated


@dataclass
class Request:
    """An HTTP request as the endpoints need it."""

    method: str
    path: str
    query_string: str
    headers: dict[str, str]
    client_ip: str
    _body: RequestBody

    @classmethod
    def of(cls, scope: Scope, receive: Receive) -> Request:
        """Build from an ASGI HTTP scope."""
        headers: dict[str, str] = {}
        for name, value in scope.get("headers", ()):
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers and key != "cookie" else text
        client = scope.get("client") or ("", 0)
        return cls(
            method=scope["method"],
            path=scope["path"],
            query_string=scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            client_ip=str(client[0]),
            _body=RequestBody(receive, dict(scope.get("headers", ())), MAX_BODY_BYTES),
        )

    def query_pairs(self) -> list[tuple[str, str]]:
        """The query parameters in order, repeats included."""
        return parse_parameters(self.query_string)

    async def body(self) -> bytes:
        """The body, at most ``MAX_BODY_BYTES`` (see ``RequestBody`` for what it raises)."""
        return await self._body.read()

    @property
    def body_unread(self) -> bool:
        """Whether a body was announced and not read (yet)."""
        return self._body.unread

    async def form_pairs(self) -> list[tuple[str, str]]:
        """The ``application/x-www-form-urlencoded`` body's fields in order (empty for other types)."""
        content_type = self.headers.get("content-type", "").split(";")[0].strip().lower()
        body = await self.body()
        if content_type != "application/x-www-form-urlencoded":
            return []
        try:
            return parse_parameters(body.decode())
        except UnicodeDecodeError:
            return []

    @property
    def cookies(self) -> dict[str, str]:
        """The request's cookies."""
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(Exception):
            jar.load(self.headers.get("cookie", ""))
        return {name: morsel.value for name, morsel in jar.items()}


@dataclass
class Response:
    """An HTTP response."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, document: object, status: int = 200, *, no_store: bool = False) -> Response:
        """A JSON response; ``no_store`` for anything carrying tokens (RFC 6749 §5.1)."""
        response = cls(status=status, body=orjson.dumps(document), content_type="application/json")
        if no_store:
            response.headers += [("cache-control", "no-store"), ("pragma", "no-cache")]
        return response

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Response:
        """A redirect to ``location``."""
        return cls(status=status, headers=[("location", location), ("cache-control", "no-store")])

    def set_cookie(
        self, name: str, value: str, *, max_age: int | None, secure: bool, path: str = "/oauth2/"
    ) -> None:
        """Add a Set-Cookie header: HttpOnly, SameSite=Lax, Secure on https."""
        parts = [f"{name}={value}", f"Path={path}", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if secure:
            parts.append("Secure")
        self.headers.append(("set-cookie", "; ".join(parts)))

    def delete_cookie(self, name: str, *, secure: bool) -> None:
        """Tell the browser to forget a cookie."""
        self.set_cookie(name, "", max_age=0, secure=secure)

    def _raw_headers(self) -> Iterator[tuple[bytes, bytes]]:
        yield b"content-type", self.content_type.encode()
        yield b"x-content-type-options", b"nosniff"
        if self.content_type.startswith("text/html"):
            yield b"content-security-policy", _PAGE_CSP
            yield b"x-frame-options", b"DENY"
            yield b"referrer-policy", b"no-referrer"
        for name, value in self.headers:
            yield name.encode("latin-1"), value.encode("latin-1")

    async def send(self, send: Send, *, head: bool = False, unread: bool = False) -> None:
        """Send over ASGI (``head`` and ``unread`` as for ``toko.platform.asgi.send_response``)."""
        await send_response(send, self.status, list(self._raw_headers()), self.body, head=head, unread=unread)


Endpoint = Callable[[Request], Awaitable[Response]]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@dataclass
class HttpListener:
    """An ASGI app served by uvicorn on an already bound socket, as a service background worker."""

    app: App
    sock: socket.socket
    forwarded_allow_ips: str = "127.0.0.1"

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.sock.getsockname()[1])

    async def run(self, stop: asyncio.Event) -> None:
        """Serve until ``stop`` is set, then finish the requests in flight."""
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=self.forwarded_allow_ips,
            server_header=False,
            timeout_graceful_shutdown=5,
            h11_max_incomplete_event_size=16 * 1024,
        )
        server = EmbeddedServer(config)
        serving = asyncio.create_task(server.serve(sockets=[self.sock]))
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            server.should_exit = True
            stopping.cancel()
            await serving
