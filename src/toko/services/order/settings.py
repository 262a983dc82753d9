"""Order service settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class OrderSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_ORDER_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_ORDER_", extra="ignore")

    port: int = 50071
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "order"
