"""Cart service settings."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class CartSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_CART_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_CART_", extra="ignore")

    port: int = 50067
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "cart"
    # The product service prices every cart; the supervisor tells every process where each gRPC
    # service listens (TOKO_<NAME>_ADDRESS).
    product_service_address: str = Field(
        default="127.0.0.1:50061",
        validation_alias=AliasChoices("TOKO_CART_PRODUCT_SERVICE_ADDRESS", "TOKO_PRODUCT_ADDRESS"),
    )
    # How long one call to the product service may take before the cart answers UNAVAILABLE.
    product_call_timeout_seconds: float = 3.0
    # A guest cart is deleted this long after its last change.
    guest_cart_ttl_seconds: int = 7 * 24 * 3600
    # The expiry worker deletes this many expired guest carts per transaction; while carts expire it
    # looks again after ``expiry_interval_seconds``, idle it sleeps until the next cart is due, at most
    # ``expiry_idle_seconds``.
    expiry_batch_size: int = 500
    expiry_interval_seconds: float = 1.0
    expiry_idle_seconds: float = 3600.0
