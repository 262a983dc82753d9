"""User service settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class UserSettings(ServiceSettings):
    """Settings of the user service, prefix ``TOKO_USER_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_USER_", extra="ignore")

    port: int = 50062
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "user"
    # Links in verification and reset emails point at ``public_base_url`` (the gateway's origin).
    email_verification_ttl_seconds: int = 24 * 3600
    password_reset_ttl_seconds: int = 3600
