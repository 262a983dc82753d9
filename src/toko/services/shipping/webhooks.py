"""The couriers' webhook endpoint: ``POST /webhooks/couriers/{courier}``, a plain HTTP listener.

The gateway forwards the public path here (the registry's ``http_mounts``). Answers: 200 once
the report is applied; 401 for a bad signature or a stale timestamp; 409 for an event id seen
before (a replay, or a retry of one we took: the sandbox's couriers stop retrying on 409 too);
404 for an unknown courier or waybill; 400 for a body that is not a report; 413 over 64 KiB;
503 when the database is out of reach (the courier retries). Every refusal changes nothing.
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
from toko.platform.errors import as_retryable
from toko.services.shipping.handlers.common import Shipping
from toko.services.shipping.handlers.tracking import Webhook, WebhookRejected, receive_webhook

log = logging.getLogger("toko.shipping.webhooks")

PREFIX = "/webhooks/couriers/"
MAX_BODY_BYTES = 64 * 1024
_JSON = [(b"content-type", b"application/json")]


class WebhookApp:
    """The ASGI app of the webhook endpoint."""

    def __init__(self, shipping: Shipping, *, secret: str, tolerance: timedelta) -> None:
        self._shipping = shipping
        self._secret = secret
        self._tolerance = tolerance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request."""
        if scope["type"] != "http":
            return
        headers = dict(scope.get("headers", ()))
        body = RequestBody(receive, headers, MAX_BODY_BYTES)
        courier = scope["path"][len(PREFIX) :] if scope["path"].startswith(PREFIX) else ""
        if not courier or "/" in courier:
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
        webhook = Webhook(
            courier=courier,
            event_id=headers.get(b"x-courier-event-id", b"").decode("latin-1"),
            timestamp=headers.get(b"x-courier-timestamp", b"").decode("latin-1"),
            signature=headers.get(b"x-courier-signature", b"").decode("latin-1"),
            body=raw,
        )
        try:
            await receive_webhook(
                shipping=self._shipping, webhook=webhook, secret=self._secret, tolerance=self._tolerance
            )
        except WebhookRejected as rejected:
            log.info("webhook refused", extra={"courier": courier, "reason": str(rejected.reason)})
            await _answer(send, rejected.status, str(rejected.reason), str(rejected))
            return
        except Exception as exc:
            if as_retryable(exc) is None:
                raise
            await _answer(send, 503, "DEPENDENCY_UNAVAILABLE", "retry later")
            return
        await _answer(send, 200, "OK", "applied")


async def _answer(send: Send, status: int, reason: str, message: str, *, unread: bool = False) -> None:
    body = orjson.dumps({"reason": reason, "message": message})
    await send_response(send, status, list(_JSON), body, unread=unread)
