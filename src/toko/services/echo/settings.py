"""Echo settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class EchoSettings(ServiceSettings):
    """Settings of the echo service, prefix ``TOKO_ECHO_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_ECHO_", extra="ignore")

    port: int = 50060
