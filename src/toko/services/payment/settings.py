"""Payment service settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_PAYMENT_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_PAYMENT_", extra="ignore")

    port: int = 50070
    # The providers' notifications' listener; the gateway forwards /webhooks/payments/ to it.
    http_port: int = 50074
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "payment"
    # Midtrans' Core API (the sandbox's stand-in under `make up`) and the merchant's server key.
    midtrans_base_url: str = "http://127.0.0.1:8025/payments/midtrans"
    midtrans_server_key: str = "sandbox-midtrans-server-key"
    # Xendit's API (e-wallets: OVO, DANA), the account's secret key, and the token its callbacks carry.
    xendit_base_url: str = "http://127.0.0.1:8025/payments/xendit"
    # The sandbox's (under `make up`); a deployment sets its own.
    xendit_secret_key: str = "sandbox-xendit-secret-key"  # noqa: S105
    xendit_callback_token: str = "sandbox-xendit-callback-token"  # noqa: S105
    # Where DANA sends the buyer once paid ({payment_id}: the payment's id). A deployment points it at
    # the storefront; under `make up` the sandbox's page of the transaction shows how it ended.
    xendit_success_redirect_url: str = "http://127.0.0.1:8025/payments/pay/{payment_id}"
    # Deadline of one call to the provider.
    provider_timeout_seconds: float = Field(default=5.0, gt=0)
    # A notification about a transaction older than this is refused as stale (replays of old ones).
    webhook_tolerance_seconds: int = Field(default=3 * 86_400, gt=0)
    # The expiry worker: batch size, and how long it sleeps when no payment is due to expire.
    expiry_batch_size: int = Field(default=50, gt=0)
    expiry_idle_seconds: float = Field(default=300.0, gt=0)
    # How often the reconciliation job looks whether yesterday's settlement reports are reconciled yet.
    reconciliation_check_seconds: float = Field(default=3600.0, gt=0)
    # How many days back the job reconciles what is not reconciled yet (yesterday, and the days an
    # outage left undone).
    reconciliation_catch_up_days: int = Field(default=7, ge=1, le=60)
