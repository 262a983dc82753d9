"""Promotion service settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class PromotionSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_PROMOTION_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_PROMOTION_", extra="ignore")

    port: int = 50068
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "promotion"
    # Held usages lapse at their checkout's payment expiry; the worker waits for the earliest, and
    # looks at least this often when none is known.
    idle_poll_seconds: float = 300.0
    release_batch_size: int = 100
