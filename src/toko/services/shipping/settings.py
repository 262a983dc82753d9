"""Shipping service settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings
from toko.services.shipping.couriers.common import Credentials

# Every courier's stand-in accepts this key under `make up` (the sandbox's TOKO_SANDBOX_COURIER_API_KEY).
SANDBOX_KEY = "sandbox-courier-key"


class ShippingSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_SHIPPING_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_SHIPPING_", extra="ignore")

    port: int = 50069
    # The courier webhooks' listener; the gateway forwards /webhooks/couriers/ to it.
    http_port: int = 50073
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "shipping"
    # Where every courier's API lives: <base>/<code>/… (the sandbox under `make up`); one courier may be
    # pointed elsewhere with its own TOKO_SHIPPING_<CODE>_BASE_URL.
    courier_base_url: str = "http://127.0.0.1:8025/couriers"
    jne_base_url: str = ""
    jnt_base_url: str = ""
    sicepat_base_url: str = ""
    anteraja_base_url: str = ""
    gosend_base_url: str = ""
    jne_username: str = "toko"
    jne_api_key: str = SANDBOX_KEY
    jnt_api_key: str = SANDBOX_KEY
    sicepat_api_key: str = SANDBOX_KEY
    anteraja_access_key_id: str = "toko"
    anteraja_secret_access_key: str = SANDBOX_KEY
    gosend_client_id: str = "toko"
    gosend_pass_key: str = SANDBOX_KEY
    # A courier that has not answered within this many seconds is left out of the quote.
    courier_timeout_seconds: float = Field(default=2.0, gt=0)
    # How long a courier's answer for one route and weight is reused.
    rate_cache_seconds: float = Field(default=300.0, gt=0)
    # How long a quoted rate can be cited.
    rate_ttl_minutes: int = Field(default=30, gt=0)
    # The secret the couriers sign their webhooks with (the sandbox's TOKO_SANDBOX_COURIER_WEBHOOK_SECRET).
    courier_webhook_secret: str = "sandbox-courier-webhook-secret"  # noqa: S105 - a development default
    # A webhook whose timestamp is further than this from now is refused.
    webhook_tolerance_seconds: int = Field(default=300, gt=0)
    # A parcel on its way with no report for this long is asked about (the polling fallback).
    poll_after_seconds: float = Field(default=3600.0, gt=0)
    poll_interval_seconds: float = Field(default=300.0, gt=0)

    def courier_base_urls(self, codes: tuple[str, ...]) -> dict[str, str]:
        """The base URL of each courier's API."""
        own = {
            "jne": self.jne_base_url,
            "jnt": self.jnt_base_url,
            "sicepat": self.sicepat_base_url,
            "anteraja": self.anteraja_base_url,
            "gosend": self.gosend_base_url,
        }
        return {code: own.get(code) or f"{self.courier_base_url.rstrip('/')}/{code}" for code in codes}

    def courier_credentials(self) -> Credentials:
        """What toko signs in to each courier with."""
        return Credentials(
            jne_username=self.jne_username,
            jne_api_key=self.jne_api_key,
            jnt_api_key=self.jnt_api_key,
            sicepat_api_key=self.sicepat_api_key,
            anteraja_access_key_id=self.anteraja_access_key_id,
            anteraja_secret_access_key=self.anteraja_secret_access_key,
            gosend_client_id=self.gosend_client_id,
            gosend_pass_key=self.gosend_pass_key,
        )
