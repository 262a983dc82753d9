"""Sending one email over SMTP (aiosmtplib), and what the relay's answer means for it.

``TOKO_SMTP_URL`` names the relay: ``smtp://[user:password@]host:port`` (plain, or STARTTLS with
``?starttls=true``) or ``smtps://…`` (TLS from the first byte). Under ``make up`` it is the
sandbox's SMTP server; in production a real relay. The password is never logged: errors are
reported by the relay's reply, not by the URL.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from toko.services.notification.domain import Outcome, outcome_of_reply

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 15.0
_DEFAULT_PORTS = {"smtp": 25, "smtps": 465}


@dataclass(frozen=True)
class Delivery:
    """How one attempt ended: the outcome, and the relay's words when it was not accepted."""

    outcome: Outcome
    error: str = ""


@dataclass(frozen=True)
class SmtpRelay:
    """Where and how to hand mail over."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    start_tls: bool = False

    @classmethod
    def from_url(cls, url: str) -> SmtpRelay:
        """The relay a ``smtp://`` or ``smtps://`` URL names; ValueError for anything else."""
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("the SMTP URL must be smtp://host:port or smtps://host:port")
        options = parse_qs(parts.query)
        return cls(
            host=parts.hostname,
            port=parts.port or _DEFAULT_PORTS[parts.scheme],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=parts.scheme == "smtps",
            start_tls=options.get("starttls", ["false"])[0].lower() in {"1", "true", "yes"},
        )

    async def send(self, message: EmailMessage) -> Delivery:
        """Hand ``message`` to the relay: accepted, refused for now (4xx, unreachable) or for good (5xx)."""
        try:
            await aiosmtplib.send(
                message,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self.password,
                use_tls=self.use_tls,
                start_tls=self.start_tls,
                timeout=SEND_TIMEOUT_SECONDS,
            )
        except aiosmtplib.SMTPRecipientsRefused as refused:
            # One recipient per message: its refusal is the message's.
            worst = max(refused.recipients, key=lambda recipient: recipient.code)
            return Delivery(outcome_of_reply(worst.code), f"{worst.code} {worst.message}")
        except aiosmtplib.SMTPResponseException as refused:
            return Delivery(outcome_of_reply(refused.code), f"{refused.code} {refused.message}")
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as unreachable:
            # Connection refused, reset or timed out: the relay may be back later.
            log.warning("SMTP relay unreachable", extra={"relay": f"{self.host}:{self.port}"})
            return Delivery(Outcome.TEMPORARY_FAILURE, f"relay unreachable: {type(unreachable).__name__}")
        return Delivery(Outcome.ACCEPTED)
