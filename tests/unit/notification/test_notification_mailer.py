"""The SMTP relay's address, and a relay that cannot be reached."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from toko.infra.netcheck import free_port
from toko.services.notification.domain import Outcome
from toko.services.notification.mailer import SmtpRelay


def test_a_relay_url_gives_host_port_credentials_and_tls() -> None:
    assert SmtpRelay.from_url("smtp://127.0.0.1:2525") == SmtpRelay("127.0.0.1", 2525)
    assert SmtpRelay.from_url("smtps://mailer%40toko.test:s%3Dcret@smtp.example.com") == SmtpRelay(
        "smtp.example.com", 465, "mailer@toko.test", "s=cret", use_tls=True
    )
    assert SmtpRelay.from_url("smtp://relay.internal?starttls=true").start_tls


@pytest.mark.parametrize("url", ["http://127.0.0.1:2525", "smtp://", "127.0.0.1:25"])
def test_anything_but_an_smtp_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="smtp://host:port"):
        SmtpRelay.from_url(url)


async def test_a_relay_that_is_not_listening_defers_the_message() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "a@toko.test", "b@example.com", "hi"
    message.set_content("hi")

    delivery = await SmtpRelay("127.0.0.1", free_port()).send(message)

    assert delivery.outcome is Outcome.TEMPORARY_FAILURE
    assert delivery.error.startswith("relay unreachable")
