"""The SMTP stand-in: a real SMTP server (aiosmtpd) that accepts any sender and recipient into the mailbox.

Plain SMTP without STARTTLS, as a relay on a private network speaks it. AUTH is
optional: a client that sends credentials is accepted whatever they are, so a
service configured for a real provider's login works unchanged. Messages over
the size limit are refused with 552, both when the client declares the size
(``MAIL FROM … SIZE=``) and when the data runs over it.

``RecipientFaults`` makes it behave like a relay having a bad day, for one address and a number of
messages: a 4xx reply defers (the sender should retry), a 5xx bounces (it should give up).
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


class RecipientFaults:
    """Replies given instead of accepting a recipient, each for the next ``times`` messages to it."""

    def __init__(self) -> None:
        self._replies: dict[str, list[str]] = {}

    def add(self, recipient: str, code: int, times: int) -> None:
        """Refuse the next ``times`` messages to ``recipient`` with reply ``code`` (400 to 599)."""
        text = (
            "4.3.0 try again later (sandbox fault)"
            if code < 500
            else "5.1.1 mailbox unavailable (sandbox fault)"
        )
        self._replies.setdefault(recipient.strip().casefold(), []).extend([f"{code} {text}"] * times)

    def take(self, recipient: str) -> str | None:
        """The reply owed to ``recipient`` now, if a fault is set for it (then used up)."""
        replies = self._replies.get(recipient.strip().casefold())
        if not replies:
            return None
        return replies.pop(0)

    def clear(self) -> None:
        """Accept every recipient again."""
        self._replies.clear()


class _Delivery:
    """The aiosmtpd handler: every message that arrives whole goes into the mailbox."""

    def __init__(self, mailbox: Mailbox, faults: RecipientFaults) -> None:
        self.mailbox = mailbox
        self.faults = faults

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Accept the recipient, unless a fault is set for it."""
        fault = self.faults.take(address)
        if fault is not None:
            return fault
        envelope.rcpt_tos.append(address)
        return "250 OK"

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


async def start_smtp(
    mailbox: Mailbox,
    *,
    host: str,
    port: int,
    max_message_bytes: int,
    faults: RecipientFaults | None = None,
) -> asyncio.Server:
    """An SMTP server on ``host:port`` (port 0 picks a free one) delivering into ``mailbox``."""
    loop = asyncio.get_running_loop()
    handler = _Delivery(mailbox, faults or RecipientFaults())

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
