"""Product service settings."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class ProductSettings(ServiceSettings):
    """Settings of the product catalog, prefix ``TOKO_PRODUCT_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_PRODUCT_", extra="ignore")

    port: int = 50061
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "product"
    # How long a product stays in Valkey; every write invalidates it sooner.
    cache_ttl_seconds: float = 300.0
    # Entries of the in-process cache in front of Valkey (0 turns it off); kept coherent by pub/sub.
    cache_local_size: int = 10_000
    cache_local_ttl_seconds: float = 2.0
    # Where the demo catalogue's product pictures are served (the gateway's static files).
    demo_image_base_url: str = "http://127.0.0.1:8080/static/demo"
    # How long a price quote holds at most (a campaign or schedule boundary ends it sooner).
    quote_ttl_seconds: float = 300.0
    # How soon the price scheduler looks again after a round that applied schedule or campaign boundaries.
    price_scheduler_interval_seconds: float = 1.0
    # How long it sleeps at most while nothing is due; it wakes for the next boundary, or a new one, sooner.
    price_scheduler_idle_interval_seconds: float = 30.0
