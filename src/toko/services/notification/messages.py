"""What an account email says: its subject, plain-text and HTML parts, in Indonesian or English.

The parts come from Jinja2 templates (``templates/<kind>.<language>.txt`` and ``.html``); the HTML
ones are autoescaped, so a name like ``<b>Budi</b>`` shows as written and never as markup. Times
are shown in Western Indonesian Time, the marketplace's (UTC+7 all year).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from toko.services.notification.domain import Kind

WIB = timezone(timedelta(hours=7), "WIB")

SUBJECTS: Mapping[tuple[Kind, str], str] = {
    (Kind.EMAIL_VERIFICATION, "id"): "Verifikasi alamat email kamu di toko",
    (Kind.EMAIL_VERIFICATION, "en"): "Verify your email address on toko",
    (Kind.PASSWORD_RESET, "id"): "Atur ulang kata sandi toko kamu",
    (Kind.PASSWORD_RESET, "en"): "Reset your toko password",
    (Kind.NEW_SIGN_IN, "id"): "Login baru ke akun toko kamu",
    (Kind.NEW_SIGN_IN, "en"): "New sign-in to your toko account",
}

_MONTHS = {
    "id": (
        "Januari", "Februari", "Maret", "April", "Mei", "Juni",
        "Juli", "Agustus", "September", "Oktober", "November", "Desember",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June",
        "July", "August", "September", "October", "November", "December",
    ),
}  # fmt: skip


@dataclass(frozen=True)
class RenderedEmail:
    """An email's words, ready to be stored and sent."""

    subject: str
    text: str
    html: str


def local_time(moment: datetime, language: str) -> str:
    """``3 Desember 2026 23.20 WIB`` / ``3 December 2026, 23:20 WIB``."""
    local = moment.astimezone(WIB)
    month = _MONTHS[language][local.month - 1]
    if language == "id":
        return f"{local.day} {month} {local.year} {local:%H.%M} WIB"
    return f"{local.day} {month} {local.year}, {local:%H:%M} WIB"


class Templates:
    """The account emails' templates, loaded once."""

    def __init__(self, folder: Path = Path(__file__).parent / "templates") -> None:
        self._environment = Environment(
            loader=FileSystemLoader(folder),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )

    def render(self, kind: Kind, language: str, context: Mapping[str, object]) -> RenderedEmail:
        """The email of ``kind`` in ``language`` (one of ``domain.LANGUAGES``) for ``context``."""
        values = {**context, "subject": SUBJECTS[kind, language]}
        name = f"{kind.value}.{language}"
        return RenderedEmail(
            subject=SUBJECTS[kind, language],
            text=self._environment.get_template(f"{name}.txt").render(values),
            html=self._environment.get_template(f"{name}.html").render(values),
        )


def email_message(
    *,
    notification_id: str,
    sender: str,
    recipient: str,
    language: str,
    subject: str,
    text: str,
    html: str,
    now: datetime,
) -> EmailMessage:
    """The MIME message: a plain-text part and its HTML alternative.

    Its Message-ID is the notification's id, so a message sent again after a crash (the relay took it
    but the service died before recording so) is the same message to every mail system downstream.
    """
    domain = sender.rpartition("@")[2].rstrip(">").strip() or "toko.test"
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = subject
    message["Date"] = format_datetime(now.astimezone(UTC))
    message["Message-ID"] = f"<{notification_id}@{domain}>"
    message["Content-Language"] = language
    # RFC 3834: tells vacation responders and list servers not to answer a machine.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    return message
