"""HTTP mounts: path prefixes forwarded unchanged to a plain HTTP upstream (the auth service's pages).

A reverse proxy, not a transcoder: method, path, query, body and headers go up as
they came (minus hop-by-hop headers, plus ``X-Forwarded-For/-Proto/-Host`` and the
request id); the answer comes back as the upstream gave it — status, redirects,
``Set-Cookie``, HTML — streamed. The upstream owns authentication on these paths.

One pooled ``httpx.AsyncClient`` serves every mount. It never follows redirects,
requests are built without the client's cookies, and its jar refuses every cookie:
a proxy shared by all users must neither pass one user's cookies to the next nor
keep a copy of each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from toko.gateway.error_codes import ErrorCode
from toko.gateway.problems import Problem

__all__ = ["HttpMounts", "StreamBroken"]

log = logging.getLogger("toko.gateway")

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

# RFC 9110 §7.6.1, plus the proxy-only ones: they describe one connection, not the message.
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Set by the proxy, never taken from the client.
_REPLACED = frozenset(
    {b"host", b"content-length", b"x-forwarded-proto", b"x-forwarded-host", b"x-request-id"}
)


class StreamBroken(Exception):
    """The upstream failed after its answer had started reaching the client."""


class HttpMounts:
    """The mounts of the gateway and the shared client that forwards to them."""

    def __init__(self, upstreams: Mapping[str, str], *, timeout: float) -> None:
        # Longest prefix first, so "/oauth2/admin/" could go elsewhere than "/oauth2/".
        self._mounts = sorted(
            ((prefix, base.rstrip("/")) for prefix, base in upstreams.items()), key=lambda m: -len(m[0])
        )
        self._timeout = timeout
        self._client: httpx.AsyncClient | None = None

    @property
    def prefixes(self) -> list[str]:
        """The mounted path prefixes."""
        return [prefix for prefix, _ in self._mounts]

    def match(self, path: str) -> str | None:
        """The base URL ``path`` is forwarded to, or None."""
        for prefix, base in self._mounts:
            if path.startswith(prefix):
                return base
        return None

    def client(self) -> httpx.AsyncClient:
        """The shared client, made on first use inside the running event loop."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self._timeout, connect=min(self._timeout, 2.0)),
                follow_redirects=False,
                cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
                trust_env=False,
            )
        return self._client

    async def forward(
        self,
        base: str,
        *,
        scope: MutableMapping[str, Any],
        body: bytes,
        request_id: str,
        send: Send,
        extra_headers: list[tuple[bytes, bytes]],
    ) -> int:
        """Forward the request, stream the answer to ``send``, return its status; else a ``Problem``."""
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: bytes = scope.get("query_string", b"")
        target = httpx.URL(base).copy_with(raw_path=raw_path + (b"?" + query if query else b""))
        request = httpx.Request(
            scope["method"], target, headers=_request_headers(scope, request_id), content=body
        )
        try:
            response = await self.client().send(request, stream=True)
        except httpx.TimeoutException as error:
            raise Problem(
                504, ErrorCode.UPSTREAM_TIMEOUT, "the service behind this path did not answer in time"
            ) from error
        except httpx.HTTPError as error:
            raise Problem(
                503,
                ErrorCode.SERVICE_UNAVAILABLE,
                "the service behind this path is unavailable; try again shortly",
            ) from error
        try:
            dropped = _hop_by_hop(response)
            headers = [
                (name.lower(), value) for name, value in response.headers.raw if name.lower() not in dropped
            ]
            if not any(name == b"x-request-id" for name, _ in headers):
                headers.append((b"x-request-id", request_id.encode()))
            headers += extra_headers
            await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
            try:
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
            except httpx.HTTPError as error:
                log.warning(
                    "the upstream broke off its answer", extra={"url": str(target), "error": str(error)}
                )
                raise StreamBroken from error
            await send({"type": "http.response.body", "body": b""})
        finally:
            await response.aclose()
        return response.status_code

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _request_headers(scope: MutableMapping[str, Any], request_id: str) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = scope["headers"]
    listed = _connection_tokens(raw)
    headers = [
        (name, value)
        for name, value in raw
        if name not in _HOP_BY_HOP
        and name not in _REPLACED
        and name not in listed
        and name != b"x-forwarded-for"
    ]
    host = next((value for name, value in raw if name == b"host"), b"")
    client = scope.get("client")
    peer = (client[0] if client else "unknown").encode()
    forwarded_for = b", ".join([value for name, value in raw if name == b"x-forwarded-for"] + [peer])
    headers += [
        (b"x-forwarded-for", forwarded_for),
        (b"x-forwarded-proto", scope.get("scheme", "http").encode()),
        (b"x-request-id", request_id.encode()),
    ]
    if host:
        headers.append((b"x-forwarded-host", host))
    return headers


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    # Headers named in Connection are hop-by-hop too (RFC 9110 §7.6.1).
    return frozenset(
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
    )


def _hop_by_hop(response: httpx.Response) -> frozenset[bytes]:
    return _HOP_BY_HOP | _connection_tokens([(n.lower(), v) for n, v in response.headers.raw])
