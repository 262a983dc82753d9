"""The sandbox process: every stand-in's servers and one HTTP server for their pages, run together.

A stand-in contributes its own servers (the mail stand-in: SMTP) and its routes on
the shared HTTP server (the mailbox). ``start_sandbox`` is what tests call, on port 0;
``run`` is ``python -m toko.sandbox``, serving until SIGTERM or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import uvloop

from toko.platform.grpc import stop_signal
from toko.platform.logging import configure_logging
from toko.sandbox.asgi import HttpServer, Request, Response, Route, Router
from toko.sandbox.couriers.shipments import Parcels, WebhookSender
from toko.sandbox.couriers.web import courier_routes
from toko.sandbox.mail.mailbox import Mailbox
from toko.sandbox.mail.smtp import RecipientFaults, start_smtp
from toko.sandbox.mail.web import mailbox_routes
from toko.sandbox.payments.provider import Charges, Notifier
from toko.sandbox.payments.web import payment_routes
from toko.sandbox.settings import SandboxSettings

log = logging.getLogger("toko.sandbox")


async def _healthz(request: Request) -> Response:
    return Response.text("ok")


@dataclass
class RunningSandbox:
    """A started sandbox, as tests and ``run`` hold it."""

    mailbox: Mailbox
    smtp: asyncio.Server
    http: HttpServer
    parcels: Parcels
    charges: Charges

    @property
    def smtp_port(self) -> int:
        """The port the SMTP stand-in listens on."""
        return int(self.smtp.sockets[0].getsockname()[1])

    @property
    def http_port(self) -> int:
        """The port of the pages and JSON APIs."""
        return self.http.port

    async def stop(self) -> None:
        """Stop taking connections and requests, and finish the requests in flight."""
        self.smtp.close()
        await self.smtp.wait_closed()
        await self.http.stop()
        await self.parcels.webhooks.close()
        await self.charges.notifier.close()


async def start_sandbox(settings: SandboxSettings) -> RunningSandbox:
    """Open the stand-ins' stores and start their servers."""
    mailbox = await Mailbox.open(settings.sandbox_dir / "mail", max_messages=settings.mail_max_messages)
    faults = RecipientFaults()
    smtp = await start_smtp(
        mailbox,
        host=settings.smtp_host,
        port=settings.smtp_port,
        max_message_bytes=settings.mail_max_message_bytes,
        faults=faults,
    )
    parcels = Parcels(
        WebhookSender(
            url_template=settings.courier_webhook_url,
            secret=settings.courier_webhook_secret,
            first_retry_seconds=settings.courier_webhook_first_retry_seconds,
            max_attempts=settings.courier_webhook_max_attempts,
        )
    )
    charges = Charges(
        Notifier(
            url=settings.payment_webhook_url,
            server_key=settings.payment_server_key,
            callback_token=settings.xendit_callback_token,
            first_retry_seconds=settings.payment_webhook_first_retry_seconds,
            max_attempts=settings.payment_webhook_max_attempts,
        )
    )
    router = Router(
        [
            Route("GET", "/healthz", _healthz),
            *mailbox_routes(mailbox, faults),
            *courier_routes(parcels, api_key=settings.courier_api_key),
            *payment_routes(
                charges,
                server_key=settings.payment_server_key,
                xendit_secret_key=settings.xendit_secret_key,
                base_url=settings.public_url,
            ),
        ]
    )
    http = await HttpServer.start(
        router, host=settings.host, port=settings.port, grace=settings.shutdown_grace_seconds
    )
    sandbox = RunningSandbox(mailbox=mailbox, smtp=smtp, http=http, parcels=parcels, charges=charges)
    log.info("serving", extra={"port": sandbox.http_port, "smtp_port": sandbox.smtp_port})
    return sandbox


def run(settings: SandboxSettings) -> None:
    """Run the sandbox process until SIGTERM or SIGINT."""

    async def main() -> None:
        stop = stop_signal()
        sandbox = await start_sandbox(settings)
        await stop.wait()
        log.info("stopping")
        await sandbox.stop()

    configure_logging("sandbox", settings.log_level)
    # aiosmtpd logs every connection and command at INFO; the sandbox logs each message it keeps instead.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    uvloop.run(main())
