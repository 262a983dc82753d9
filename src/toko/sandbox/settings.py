"""Sandbox settings, from ``TOKO_SANDBOX_*`` environment variables (and the shared ``TOKO_*`` ones)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    """Where the stand-ins listen, where they keep what they receive, and how much they keep."""

    model_config = SettingsConfigDict(env_prefix="TOKO_SANDBOX_", extra="ignore", populate_by_name=True)

    # The web pages and JSON APIs of every stand-in (the mailbox viewer among them).
    host: str = "127.0.0.1"
    port: int = 8025
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    # Everything the sandbox keeps lives under <data_dir>/sandbox/, so a restart keeps it.
    data_dir: Path = Field(default=Path(".toko"), validation_alias=AliasChoices("data_dir", "TOKO_DATA_DIR"))
    # Larger messages are refused with SMTP 552, as a real relay refuses what exceeds its SIZE.
    mail_max_message_bytes: int = Field(default=1024 * 1024, gt=0)
    # The mailbox keeps this many messages; a new one beyond it drops the oldest.
    mail_max_messages: int = Field(default=1000, gt=0)
    # The couriers' credentials: every stand-in courier accepts this one key (J&T signs with it).
    courier_api_key: str = "sandbox-courier-key"
    # Where the couriers send their tracking webhooks ({courier} is the courier's code): the gateway's
    # public path, which forwards to the shipping service; empty sends none.
    courier_webhook_url: str = "http://127.0.0.1:8080/webhooks/couriers/{courier}"
    # The secret the webhooks are signed with (HMAC-SHA256), shared with the shipping service.
    courier_webhook_secret: str = "sandbox-courier-webhook-secret"  # noqa: S105 - a development default
    # A webhook not answered 2xx is retried after this many seconds, doubling, this many times in all.
    courier_webhook_first_retry_seconds: float = Field(default=1.0, gt=0)
    courier_webhook_max_attempts: int = Field(default=8, gt=0)
    # The payment provider's server key (Midtrans' shape: HTTP Basic user, and the notifications' signature).
    payment_server_key: str = "sandbox-midtrans-server-key"
    # Xendit's shape: the secret key (HTTP Basic user) and the token its callbacks carry.
    xendit_secret_key: str = "sandbox-xendit-secret-key"  # noqa: S105 - a development default
    xendit_callback_token: str = "sandbox-xendit-callback-token"  # noqa: S105 - a development default
    # Where the providers notify payment changes ({provider}: midtrans, xendit): the gateway's public
    # path, which forwards to the payment service; empty sends none.
    payment_webhook_url: str = "http://127.0.0.1:8080/webhooks/payments/{provider}"
    payment_webhook_first_retry_seconds: float = Field(default=1.0, gt=0)
    payment_webhook_max_attempts: int = Field(default=8, gt=0)
    # How the sandbox's own pages are reached from a browser (payment pages link back to it).
    public_url: str = "http://127.0.0.1:8025"
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("log_level", "TOKO_LOG_LEVEL"))
    shutdown_grace_seconds: float = 5.0

    @property
    def sandbox_dir(self) -> Path:
        """The folder the sandbox keeps its state in."""
        return self.data_dir / "sandbox"
