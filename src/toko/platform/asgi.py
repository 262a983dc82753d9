"""Plain ASGI plumbing shared by toko's HTTP servers (the gateway, the auth service's endpoints and pages).

Neither uses a web framework: a handful of routes each, on the hot path of every API call for
the gateway. What both need of HTTP itself lives here:

- the ASGI types (``Scope``, ``Receive``, ``Send``…);
- ``RequestBody``: the body read on demand within a size limit, counted as it arrives (a
  missing or lying ``Content-Length`` does not get past the limit), which knows whether it was
  read to its end; it raises ``BodyTooLarge``, ``InvalidContentLength`` or ``ClientGone``;
- ``routing_method``: HEAD is GET without the body (RFC 9110 §9.3.2);
- ``send_response``: a whole response with its ``Content-Length``; the answer to HEAD leaves
  out the body, and an answer given before the request's body was read asks the client for a
  new connection (``Connection: close``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

_CLOSE = (b"connection", b"close")


class ClientGone(Exception):
    """The client disconnected before its request was read."""


class BodyTooLarge(Exception):
    """The request body is over the limit (``limit``, in bytes)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body exceeds {limit} bytes")
        self.limit = limit


class InvalidContentLength(Exception):
    """The ``Content-Length`` header is not a non-negative integer."""


class RequestBody:
    """A request's body, read on demand within the size limit; knows whether it was read to its end."""

    def __init__(self, receive: Receive, headers: Mapping[bytes, bytes], limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self._declared = headers.get(b"content-length")
        self._content: bytes | None = None
        # Unread until proven otherwise only when the request says a body follows.
        self.unread = (self._declared not in (None, b"0")) or b"transfer-encoding" in headers

    async def read(self) -> bytes:
        """The whole body (read once, then kept)."""
        if self._content is not None:
            return self._content
        limit = self._limit
        if self._declared is not None:
            if not self._declared.isdigit():
                raise InvalidContentLength
            if int(self._declared) > limit:
                raise BodyTooLarge(limit)
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            # Counted as it arrives: a missing or lying Content-Length does not get past the limit.
            if size > limit:
                raise BodyTooLarge(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                self.unread = False
                self._content = b"".join(chunks)
                return self._content


def routing_method(method: str) -> tuple[str, bool]:
    """The method to route a request by, and whether its answer leaves out the body (HEAD: GET's answer)."""
    return ("GET", True) if method == "HEAD" else (method, False)


async def send_response(
    send: Send, status: int, headers: Headers, body: bytes, *, head: bool = False, unread: bool = False
) -> None:
    """Send a whole response, adding its ``Content-Length``.

    ``head``: the answer to a HEAD request, with the GET answer's headers, its Content-Length
    included, and no body. ``unread``: the request's body was left unread (refused too large,
    unauthenticated, no such route…); the rest of it spoils the connection, so the client is told
    to open a new one rather than reuse a socket the server is about to drop.
    """
    out = [*headers, (b"content-length", str(len(body)).encode())]
    if unread:
        out.append(_CLOSE)
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": b"" if head else body})
