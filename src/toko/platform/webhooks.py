"""What every inbound webhook endpoint does before its own checks (couriers', payment providers').

An endpoint is ``POST <prefix><sender>`` on a service's plain HTTP listener (the gateway forwards the
public path there). ``read_webhook`` answers what is not a webhook at all itself (404 for another
path, 405 for another method, 413 over the size limit) and returns the sender's name, the headers and
the raw body otherwise; ``answer`` writes the small JSON answer every outcome gets.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from toko.platform.asgi import (
    BodyTooLarge,
    ClientGone,
    InvalidContentLength,
    Receive,
    RequestBody,
    Scope,
    Send,
    send_response,
)

__all__ = ["InboundWebhook", "answer", "read_webhook"]

_JSON = [(b"content-type", b"application/json")]


@dataclass(frozen=True)
class InboundWebhook:
    """A webhook's sender (the path's last segment), headers and raw body."""

    sender: str
    headers: dict[bytes, bytes]
    body: bytes


async def read_webhook(
    scope: Scope, receive: Receive, send: Send, *, prefix: str, max_bytes: int
) -> InboundWebhook | None:
    """The webhook of this request, or None once what it is not has been answered."""
    if scope["type"] != "http":
        return None
    headers = dict(scope.get("headers", ()))
    body = RequestBody(receive, headers, max_bytes)
    sender = scope["path"][len(prefix) :] if scope["path"].startswith(prefix) else ""
    if not sender or "/" in sender:
        await answer(send, 404, "NOT_FOUND", "no such endpoint", unread=body.unread)
        return None
    if scope["method"] != "POST":
        await answer(send, 405, "METHOD_NOT_ALLOWED", "POST only", unread=body.unread)
        return None
    try:
        raw = await body.read()
    except ClientGone:
        return None
    except (BodyTooLarge, InvalidContentLength):
        await answer(send, 413, "BODY_TOO_LARGE", f"at most {max_bytes} bytes", unread=True)
        return None
    return InboundWebhook(sender=sender, headers=headers, body=raw)


async def answer(send: Send, status: int, reason: str, message: str, *, unread: bool = False) -> None:
    """A webhook's answer: ``{"reason": …, "message": …}``."""
    await send_response(
        send, status, list(_JSON), orjson.dumps({"reason": reason, "message": message}), unread=unread
    )
