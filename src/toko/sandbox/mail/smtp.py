"""The SMTP stand-in: a real SMTP server (aiosmtpd) that accepts any sender and recipient into the mailbox.

Plain SMTP without STARTTLS, as a relay on a private network speaks it. AUTH is
optional: a client that sends credentials is accepted whatever they are, so a
service configured for a real provider's login works unchanged. Messages over
the size limit are refused with 552, both when the client declares the size
(``MAIL FROM … SIZE=``) and when the data runs over it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from toko.sandbox.mail.mailbox import Mailbox

log = logging.getLogger(__name__)

# The name the server greets with; given so aiosmtpd does not look the machine's name up in DNS.
HOSTNAME = "sandbox.toko.test"


class _Delivery:
    """The aiosmtpd handler: every message that arrives whole goes into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Keep the message exactly as received and acknowledge it."""
        raw = envelope.original_content or b""
        summary = await self.mailbox.deliver(
            mail_from=envelope.mail_from or "", rcpt_tos=envelope.rcpt_tos, raw=raw
        )
        log.info(
            "mail received",
            extra={"message_id": summary.id, "recipients": list(summary.rcpt_tos), "size": summary.size},
        )
        return f"250 OK queued as {summary.id}"


def _accept_any_credentials(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    return AuthResult(success=True)


async def start_smtp(mailbox: Mailbox, *, host: str, port: int, max_message_bytes: int) -> asyncio.Server:
    """An SMTP server on ``host:port`` (port 0 picks a free one) delivering into ``mailbox``."""
    loop = asyncio.get_running_loop()
    handler = _Delivery(mailbox)

    def connection() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=max_message_bytes,
            enable_SMTPUTF8=True,
            hostname=HOSTNAME,
            ident="toko sandbox ESMTP",
            auth_require_tls=False,
            authenticator=_accept_any_credentials,
            loop=loop,
        )

    return await loop.create_server(connection, host=host, port=port)
