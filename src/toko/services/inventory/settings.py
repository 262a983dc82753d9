"""Inventory service settings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from toko.platform.settings import ServiceSettings


class InventorySettings(ServiceSettings):
    """Settings of the inventory service, prefix ``TOKO_INVENTORY_``."""

    model_config = SettingsConfigDict(env_prefix="TOKO_INVENTORY_", extra="ignore")

    port: int = 50065
    # A setting rather than a constant so that tests can give each module a fresh database.
    database_name: str = "inventory"
    # How often the expiry worker looks for reservations past their time while it finds some, and how many
    # it takes at once. Idle, it waits twice as long each time, up to expiry_idle_seconds, but never past
    # the earliest reservation's expiry; a reservation due sooner than it means to look wakes it.
    expiry_interval_seconds: float = Field(default=1.0, gt=0)
    expiry_idle_seconds: float = Field(default=30.0, gt=0)
    expiry_batch_size: int = Field(default=100, ge=1)
    # How often the lot write-off worker looks for perishable stock in lots past their date while it finds
    # some (idle, up to lot_write_off_idle_seconds; it also wakes as the date turns, when lots expire), and
    # how many stock lines it writes off per transaction.
    lot_write_off_interval_seconds: float = Field(default=60.0, gt=0)
    lot_write_off_idle_seconds: float = Field(default=600.0, gt=0)
    lot_write_off_batch_size: int = Field(default=100, ge=1)
    # How often flash-sale counters in Valkey are checked against the durable claims while some sale is
    # live (with none, up to flash_sale_reconcile_idle_seconds), and how many allocations per batch.
    flash_sale_reconcile_seconds: float = Field(default=5.0, gt=0)
    flash_sale_reconcile_idle_seconds: float = Field(default=60.0, gt=0)
    flash_sale_reconcile_batch_size: int = Field(default=100, ge=1)
    # How long a flash-sale claim is held for its buyer's checkout; then its units go back to the quota.
    flash_sale_claim_ttl_seconds: int = Field(default=900, ge=10, le=86_400)
    # Demo shops get opening stock for their new SKUs (make up's demo marketplace sets it); off by default.
    demo_stock: bool = False
