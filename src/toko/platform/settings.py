"""Settings shared by every service, read from the environment (pydantic-settings).

Infrastructure addresses are shared (``TOKO_DATABASE_URL``, ``TOKO_NATS_URL``,
``TOKO_REDIS_URL``, and the token issuer and its keys ``TOKO_PUBLIC_BASE_URL``,
``TOKO_AUTH_JWKS_URL``); everything else a service reads under its own prefix
``TOKO_<NAME>_`` (``TOKO_PRODUCT_PORT``…). Nothing else in the code reads
``os.environ``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from toko.platform.service_auth import ServiceTokens, client_id_of, read_service_secret


def _shared(name: str) -> AliasChoices:
    # A shared setting can still be overridden for one service, e.g. TOKO_PRODUCT_DATABASE_URL.
    return AliasChoices(name)


class ServiceSettings(BaseSettings):
    """Settings every gRPC service has; subclasses set ``env_prefix`` and add their own."""

    model_config = SettingsConfigDict(env_prefix="TOKO_SERVICE_", extra="ignore", populate_by_name=True)

    host: str = "127.0.0.1"
    port: int = 0
    # Server URL without a database: each service derives its own database name from it.
    database_url: str = Field(
        default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres",
        validation_alias=_shared("TOKO_DATABASE_URL"),
    )
    nats_url: str = Field(default="nats://127.0.0.1:14222", validation_alias=_shared("TOKO_NATS_URL"))
    redis_url: str = Field(default="redis://127.0.0.1:16379/0", validation_alias=_shared("TOKO_REDIS_URL"))
    # The issuer of access tokens: the platform's public origin (the gateway's).
    public_base_url: str = Field(
        default="http://127.0.0.1:8080", validation_alias=_shared("TOKO_PUBLIC_BASE_URL")
    )
    # Where the auth service publishes the keys that sign access tokens.
    auth_jwks_url: str = Field(
        default="http://127.0.0.1:50064/oauth2/jwks", validation_alias=_shared("TOKO_AUTH_JWKS_URL")
    )
    # A fixed JWKS document (JSON) trusted instead of fetching auth_jwks_url: tests, air-gapped setups.
    auth_jwks: str = Field(default="", validation_alias=_shared("TOKO_AUTH_JWKS"))
    # Where a service gets its own access token (client credentials, toko.platform.service_auth).
    auth_token_url: str = Field(
        default="http://127.0.0.1:50064/oauth2/token", validation_alias=_shared("TOKO_AUTH_TOKEN_URL")
    )
    # The platform's data directory (`make up`'s `.toko/`): master secrets, service credentials.
    data_dir: Path = Field(default=Path(".toko"), validation_alias=_shared("TOKO_DATA_DIR"))
    # The services' client secrets, one `<service>.secret` each; <data_dir>/service-credentials by default.
    service_credentials_dir: Path | None = Field(
        default=None, validation_alias=_shared("TOKO_SERVICE_CREDENTIALS_DIR")
    )
    log_level: str = Field(default="INFO", validation_alias=_shared("TOKO_LOG_LEVEL"))
    otel_enabled: bool = Field(default=False, validation_alias=_shared("TOKO_OTEL_ENABLED"))
    otel_endpoint: str = Field(
        default="http://127.0.0.1:4317", validation_alias=_shared("TOKO_OTEL_ENDPOINT")
    )
    # The service's own database on that server; a setting so tests can give each module a fresh one.
    database_name: str = ""
    # Connections each service keeps to PostgreSQL (SQLAlchemy's pool; half as many more for bursts).
    db_pool_size: int = 20
    shutdown_grace_seconds: float = 5.0

    @property
    def credentials_dir(self) -> Path:
        """The directory of the services' client secrets."""
        return self.service_credentials_dir or self.data_dir / "service-credentials"

    def service_tokens(self, service: str) -> ServiceTokens:
        """Access tokens of ``service``'s own credentials, to call RPCs that take the role ``service``.

        Raises ``RuntimeError`` at start when the service has no secret: a deployment mistake.
        """
        secret = read_service_secret(self.credentials_dir, service)
        if secret is None:
            raise RuntimeError(
                f"no credentials for {service} in {self.credentials_dir} (toko up writes them; in a "
                "cluster, mount the service-credentials Secret)"
            )
        return ServiceTokens(client_id=client_id_of(service), secret=secret, token_url=self.auth_token_url)
