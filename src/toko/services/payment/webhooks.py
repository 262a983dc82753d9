"""The providers' notification endpoint: ``POST /webhooks/payments/{provider}``, a plain HTTP listener.

The gateway forwards the public path here (the registry's ``http_mounts``). Answers: 200 once the
notification is applied, or when it is a replay of one applied before (nothing changes); 401 for a
bad signature or a notification too old; 404 for an unknown provider or transaction; 400 for a body
that is not a notification; 413 over 64 KiB; 503 when the provider or the database is out of reach
(the provider retries). Every refusal changes nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

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
from toko.platform.errors import Unavailable, as_retryable
from toko.services.payment.handlers import NotificationRefused, Payments, receive_notification

log = logging.getLogger("toko.payment.webhooks")

PREFIX = "/webhooks/payments/"
MAX_BODY_BYTES = 64 * 1024
_JSON = [(b"content-type", b"application/json")]


class NotificationApp:
    """The ASGI app of the notification endpoint."""

    def __init__(self, payments: Payments, *, tolerance: timedelta) -> None:
        self._payments = payments
        self._tolerance = tolerance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request."""
        if scope["type"] != "http":
            return
        headers = dict(scope.get("headers", ()))
        body = RequestBody(receive, headers, MAX_BODY_BYTES)
        provider = scope["path"][len(PREFIX) :] if scope["path"].startswith(PREFIX) else ""
        if not provider or "/" in provider:
            await _answer(send, 404, "NOT_FOUND", "no such endpoint", unread=body.unread)
            return
        if scope["method"] != "POST":
            await _answer(send, 405, "METHOD_NOT_ALLOWED", "POST only", unread=body.unread)
            return
        try:
            raw = await body.read()
        except ClientGone:
            return
        except (BodyTooLarge, InvalidContentLength):
            await _answer(send, 413, "BODY_TOO_LARGE", f"at most {MAX_BODY_BYTES} bytes", unread=True)
            return
        try:
            outcome = await receive_notification(
                payments=self._payments, provider=provider, body=raw, tolerance=self._tolerance
            )
        except NotificationRefused as refused:
            log.info("notification refused", extra={"provider": provider, "reason": str(refused.reason)})
            await _answer(send, refused.status, str(refused.reason), str(refused))
            return
        except Unavailable:
            await _answer(send, 503, "DEPENDENCY_UNAVAILABLE", "retry later")
            return
        except Exception as exc:
            if as_retryable(exc) is None:
                raise
            await _answer(send, 503, "DEPENDENCY_UNAVAILABLE", "retry later")
            return
        await _answer(send, 200, "OK", outcome)


async def _answer(send: Send, status: int, reason: str, message: str, *, unread: bool = False) -> None:
    body = orjson.dumps({"reason": reason, "message": message})
    await send_response(send, status, list(_JSON), body, unread=unread)
