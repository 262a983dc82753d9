"""Auth service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class AuthSettings(ServiceSettings):
    """Settings of the OAuth 2.1 / OpenID Connect provider, prefix ``TOKO_AUTH_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_AUTH_", extra="ignore")

    port: int = 50063
    # The plain HTTP listener of the protocol endpoints and login pages (the gateway forwards to it).
    http_port: int = 50064
    database_name: str = "auth"
    # The supervisor tells every process where each gRPC service listens (TOKO_<NAME>_ADDRESS).
    user_service_address: str = Field(
        default="127.0.0.1:50062",
        validation_alias=AliasChoices("TOKO_AUTH_USER_SERVICE_ADDRESS", "TOKO_USER_ADDRESS"),
    )
    # Peers whose X-Forwarded-For / -Proto headers are believed (the gateway).
    forwarded_allow_ips: str = "127.0.0.1"

    access_token_seconds: int = 15 * 60
    id_token_seconds: int = 15 * 60
    refresh_token_days: int = 30
    authorization_code_seconds: int = 60
    login_session_hours: int = 12
    # A new signing key every this many days; the old one stays published until its tokens expired.
    signing_key_rotation_days: int = 30
    # A new key is in the JWKS this long before it signs (longer than verifiers cache the JWKS).
    signing_key_publish_ahead_seconds: int = 90
    clock_leeway_seconds: int = 60

    # Failed logins allowed per window, per account and per client IP.
    login_failures_per_account: int = 5
    login_failures_per_ip: int = 20
    login_failure_window_seconds: int = 15 * 60
