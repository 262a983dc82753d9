"""Gateway settings, from ``TOKO_GATEWAY_*`` environment variables (and the shared ``TOKO_*`` ones)."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RateLimitSettings(BaseModel):
    """``limit`` requests per ``window`` seconds, e.g. ``{"limit": 600, "window": 60}``."""

    limit: int = Field(gt=0)
    window: float = Field(default=60.0, gt=0)


class GatewaySettings(BaseSettings):
    """Where the gateway listens, which services it fronts and the limits it enforces."""

    model_config = SettingsConfigDict(env_prefix="TOKO_GATEWAY_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(default=1, ge=1)
    # Pending connections the kernel queues for us. A flash sale opens thousands at once; with a short
    # queue the kernel drops SYNs and clients retry after 1, 3, 7, 15, 31 s. Capped by net.core.somaxconn.
    listen_backlog: int = Field(default=4096, ge=128)
    # Event loop of the server worker; uvloop measured ~25% more requests/s than asyncio here.
    loop: Literal["asyncio", "uvloop"] = "uvloop"
    # Full proto service name -> "host:port", e.g. {"toko.product.v1.ProductService": "127.0.0.1:50061"}.
    upstreams: dict[str, str] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    # Deadline of an upstream call, in seconds, unless the method has its own in route_timeouts.
    default_timeout: float = Field(default=10.0, gt=0)
    # Full method name ("toko.product.v1.ProductService.ListProducts") -> deadline in seconds.
    route_timeouts: dict[str, float] = Field(default_factory=dict)
    health_timeout: float = Field(default=1.0, gt=0)
    # A streamed answer (Server-Sent Events) lasts at most this many seconds; the client reconnects.
    stream_timeout: float = Field(default=900.0, gt=0)
    # While a stream is silent, a comment line goes out this often so proxies keep it open.
    stream_heartbeat: float = Field(default=15.0, gt=0)
    cors_origins: list[str] = Field(default_factory=lambda: ["*"])
    cors_max_age: int = 600
    gzip_min_bytes: int = 1024
    shutdown_grace_seconds: float = 5.0
    # Path prefix -> base URL of a plain HTTP upstream the gateway forwards unchanged, e.g.
    # {"/oauth2/": "http://127.0.0.1:50064"}: the auth service's pages share the API's origin.
    http_upstreams: dict[str, str] = Field(default_factory=dict)
    # Deadline of a forwarded HTTP request (connect, then each read), in seconds.
    http_upstream_timeout: float = Field(default=30.0, gt=0)
    # The issuer of access tokens (the platform's public origin) and where its signing keys are published.
    public_base_url: str = Field(
        default="http://127.0.0.1:8080",
        validation_alias=AliasChoices("public_base_url", "TOKO_PUBLIC_BASE_URL"),
    )
    auth_jwks_url: str = Field(
        default="http://127.0.0.1:50064/oauth2/jwks",
        validation_alias=AliasChoices("auth_jwks_url", "TOKO_AUTH_JWKS_URL"),
    )
    # A fixed JWKS document trusted instead of fetching auth_jwks_url (tests, air-gapped setups).
    auth_jwks: str = Field(default="", validation_alias=AliasChoices("auth_jwks", "TOKO_AUTH_JWKS"))
    # Revoked access tokens are learnt from the auth service's events on NATS (toko.platform.revocation).
    nats_url: str = Field(
        default="nats://127.0.0.1:14222", validation_alias=AliasChoices("nats_url", "TOKO_NATS_URL")
    )
    follow_revocations: bool = True
    # The public OAuth client of the Authorize button on /docs (the auth seed registers it, with
    # <public_base_url>/docs/oauth2-redirect.html as its redirect URI).
    docs_client_id: str = "api-docs"
    # Rate limiting, in Valkey; anonymous API calls are limited per IP, authenticated ones per client
    # (client id + subject), and POSTs to the sign-in and token endpoints per IP, much more strictly.
    redis_url: str = Field(
        default="redis://127.0.0.1:16379/0", validation_alias=AliasChoices("redis_url", "TOKO_REDIS_URL")
    )
    rate_limit_enabled: bool = True
    rate_limit_api_ip: RateLimitSettings = RateLimitSettings(limit=600, window=60)
    rate_limit_api_client: RateLimitSettings = RateLimitSettings(limit=1200, window=60)
    rate_limit_sign_in_ip: RateLimitSettings = RateLimitSettings(limit=10, window=60)
    rate_limit_sign_in_paths: list[str] = Field(
        default_factory=lambda: ["/oauth2/token", "/oauth2/login", "/oauth2/authorize"]
    )
    # POSTs under these prefixes are limited like sign-ins: the account pages (sign-up, password reset).
    rate_limit_sign_in_prefixes: list[str] = Field(default_factory=lambda: ["/account/"])
    log_level: str = Field(default="INFO", validation_alias=AliasChoices("TOKO_LOG_LEVEL"))
