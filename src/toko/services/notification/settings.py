"""Notification service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class NotificationSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_NOTIFICATION_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_NOTIFICATION_", extra="ignore")

    port: int = 50066
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "notification"
    # The mail relay (see ``mailer.SmtpRelay.from_url``); `make up` points every process at the sandbox's.
    smtp_url: str = Field(
        default="smtp://127.0.0.1:2525",
        validation_alias=AliasChoices("TOKO_NOTIFICATION_SMTP_URL", "TOKO_SMTP_URL"),
    )
    mail_from: str = "toko <no-reply@toko.test>"
    # The sender polls this often at most when idle; a new notification wakes it at once.
    idle_poll_seconds: float = 60.0
    send_batch_size: int = 20
    # A deferred email is tried again after this, doubling up to an hour, 12 attempts in all.
    first_retry_seconds: float = 60.0
