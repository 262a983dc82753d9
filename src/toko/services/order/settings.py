"""Order service settings."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings

DAY = 86_400


def _peer(name: str, default: str) -> Any:
    """A peer's address: TOKO_ORDER_<NAME>_ADDRESS, else the supervisor's TOKO_<NAME>_ADDRESS."""
    upper = name.upper()
    return Field(
        default=default, validation_alias=AliasChoices(f"TOKO_ORDER_{upper}_ADDRESS", f"TOKO_{upper}_ADDRESS")
    )


class OrderSettings(ServiceSettings):
    """Settings of the service, prefix ``TOKO_ORDER_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_ORDER_", extra="ignore")

    port: int = 50071
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "order"
    # The services a checkout calls; the supervisor tells every process where each gRPC service
    # listens (TOKO_<NAME>_ADDRESS).
    product_address: str = _peer("product", "127.0.0.1:50061")
    user_address: str = _peer("user", "127.0.0.1:50062")
    cart_address: str = _peer("cart", "127.0.0.1:50067")
    inventory_address: str = _peer("inventory", "127.0.0.1:50065")
    promotion_address: str = _peer("promotion", "127.0.0.1:50068")
    shipping_address: str = _peer("shipping", "127.0.0.1:50069")
    payment_address: str = _peer("payment", "127.0.0.1:50070")
    # Deadline of one call to another service.
    call_timeout_seconds: float = Field(default=5.0, gt=0)
    # How long a quote's figures hold (at most: a price or rate expiring sooner shortens it).
    quote_ttl_seconds: int = Field(default=600, gt=0)
    # How long the buyer has to pay; stock is reserved and vouchers held as long (inventory's maximum).
    payment_ttl_seconds: int = Field(default=DAY, ge=300, le=DAY)
    # The platform's service fee per checkout, in IDR.
    service_fee: int = Field(default=1_000, ge=0)
    # A paid order the seller has not accepted in this long is cancelled and refunded.
    accept_within_seconds: int = Field(default=2 * DAY, gt=0)
    # An accepted order not shipped in this long is cancelled and refunded.
    ship_within_seconds: int = Field(default=3 * DAY, gt=0)
    # A delivered order completes by itself after this long unless the buyer completes it first.
    complete_after_seconds: int = Field(default=3 * DAY, gt=0)
    # A checkout still placing after this long (its process died mid-saga) is driven on by the worker.
    placing_lease_seconds: float = Field(default=30.0, gt=0)
    # A checkout that cannot be placed for this long (a service down throughout) is given up.
    placing_give_up_seconds: float = Field(default=600.0, gt=0)
    # The timers' and the saga's worker: batch size, and how long it sleeps when nothing is due.
    worker_batch_size: int = Field(default=50, gt=0)
    worker_idle_seconds: float = Field(default=300.0, gt=0)
