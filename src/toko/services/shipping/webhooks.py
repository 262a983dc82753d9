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

from toko.platform.asgi import Receive, Scope, Send
from toko.platform.errors import as_retryable
from toko.platform.webhooks import answer, read_webhook
from toko.services.shipping.handlers.common import Shipping
from toko.services.shipping.handlers.tracking import Webhook, WebhookRejected, receive_webhook

log = logging.getLogger("toko.shipping.webhooks")

PREFIX = "/webhooks/couriers/"
MAX_BODY_BYTES = 64 * 1024


class WebhookApp:
    """The ASGI app of the webhook endpoint."""

    def __init__(self, shipping: Shipping, *, secret: str, tolerance: timedelta) -> None:
        self._shipping = shipping
        self._secret = secret
        self._tolerance = tolerance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request."""
        inbound = await read_webhook(scope, receive, send, prefix=PREFIX, max_bytes=MAX_BODY_BYTES)
        if inbound is None:
            return
        courier, headers, raw = inbound.sender, inbound.headers, inbound.body
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
            await answer(send, rejected.status, str(rejected.reason), str(rejected))
            return
        except Exception as exc:
            if as_retryable(exc) is None:
                raise
            await answer(send, 503, "DEPENDENCY_UNAVAILABLE", "retry later")
            return
        await answer(send, 200, "OK", "applied")
