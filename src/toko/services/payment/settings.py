"""Payment service settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class PaymentSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_PAYMENT_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_PAYMENT_", extra="ignore")

    port: int = 50070
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "payment"
