"""The provider's HTTP plumbing: a body over the limit, a body left unread, HEAD."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import orjson

from toko.services.auth.http.app import OAuthApp
from toko.services.auth.http.asgi import MAX_BODY_BYTES
from toko.services.auth.http.pages import templates


def _app() -> OAuthApp:
    # None of these requests gets as far as the provider, the sessions or the signer.
    provider: Any = SimpleNamespace(issuer="https://toko.example")
    return OAuthApp(provider=provider, sessions=None, throttle=None, signer=None, pages=templates())  # type: ignore[arg-type]


async def _call(
    method: str, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]
) -> tuple[int, dict[bytes, bytes], bytes]:
    messages: Iterator[dict[str, Any]] = iter(
        {"type": "http.request", "body": chunk, "more_body": index < len(chunks) - 1}
        for index, chunk in enumerate(chunks)
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return next(messages)

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": headers, "query_string": b""}
    await _app()(scope, receive, send)
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


async def test_a_body_over_the_limit_is_refused_and_the_connection_closed() -> None:
    half = b"a" * (MAX_BODY_BYTES // 2 + 1)

    status, headers, body = await _call(
        "POST", "/oauth2/token", [(b"transfer-encoding", b"chunked")], [half, half]
    )

    assert status == 413
    assert orjson.loads(body)["error"] == "invalid_request"
    assert headers[b"connection"] == b"close"


async def test_an_answer_given_before_the_body_was_read_closes_the_connection() -> None:
    status, headers, _ = await _call("POST", "/nowhere", [(b"content-length", b"3")], [b"abc"])

    assert status == 404
    assert headers[b"connection"] == b"close"


async def test_head_is_answered_as_get_without_the_body() -> None:
    status, headers, body = await _call("HEAD", "/nowhere", [], [b""])

    assert status == 404
    assert body == b""
    assert int(headers[b"content-length"]) == len(b'{"error":"not_found"}')
    assert b"connection" not in headers
