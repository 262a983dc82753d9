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

from toko.platform.asgi import Receive, Scope, Send
from toko.platform.errors import Unavailable, as_retryable
from toko.platform.webhooks import answer, read_webhook
from toko.services.payment.handlers import NotificationRefused, Payments, receive_notification

log = logging.getLogger("toko.payment.webhooks")

PREFIX = "/webhooks/payments/"
MAX_BODY_BYTES = 64 * 1024


class NotificationApp:
    """The ASGI app of the notification endpoint."""

    def __init__(self, payments: Payments, *, tolerance: timedelta) -> None:
        self._payments = payments
        self._tolerance = tolerance

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request."""
        inbound = await read_webhook(scope, receive, send, prefix=PREFIX, max_bytes=MAX_BODY_BYTES)
        if inbound is None:
            return
        provider, raw = inbound.sender, inbound.body
        try:
            outcome = await receive_notification(
                payments=self._payments,
                provider=provider,
                headers=inbound.headers,
                body=raw,
                tolerance=self._tolerance,
            )
        except NotificationRefused as refused:
            log.info("notification refused", extra={"provider": provider, "reason": str(refused.reason)})
            await answer(send, refused.status, str(refused.reason), str(refused))
            return
        except Unavailable:
            await answer(send, 503, "DEPENDENCY_UNAVAILABLE", "retry later")
            return
        except Exception as exc:
            if as_retryable(exc) is None:
                raise
            await answer(send, 503, "DEPENDENCY_UNAVAILABLE", "retry later")
            return
        await answer(send, 200, "OK", outcome)
