"""The inventory's tables, as SQLAlchemy Core sees them (the migrations create them)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Computed,
    Date,
    DateTime,
    Integer,
    MetaData,
    Table,
    Text,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData()
_UUID = Uuid(as_uuid=False)
_TIME = DateTime(timezone=True)

warehouses = Table(
    "warehouses",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=True),
    Column("name", Text, nullable=False),
    Column("address", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
skus = Table(
    "skus",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("product_id", _UUID, nullable=True),
    Column("archived", Boolean, nullable=False),
    Column("available", Integer, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("perishable", Boolean, nullable=False, server_default="false"),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
stock = Table(
    "stock",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("shop_id", _UUID, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("available", Integer, Computed("on_hand - reserved", persisted=True)),
    Column("safety_stock", Integer, nullable=False),
    Column("reorder_point", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    Column("updated_at", _TIME, nullable=False, server_default=func.now()),
)
stock_lots = Table(
    "stock_lots",
    metadata,
    Column("stock_id", _UUID, primary_key=True),
    Column("lot_code", Text, primary_key=True),
    Column("expires_on", Date, primary_key=True),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("on_hand", Integer, nullable=False),
    Column("reserved", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
stock_ledger = Table(
    "stock_ledger",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("stock_id", _UUID, nullable=False),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("kind", Text, nullable=False),
    Column("on_hand_delta", Integer, nullable=False),
    Column("reserved_delta", Integer, nullable=False),
    Column("reference", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
reservations = Table(
    "reservations",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("reference", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("lines_digest", Text, nullable=False),
    Column("buyer_city", Text, nullable=False),
    Column("actor", Text, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    Column("updated_at", _TIME, nullable=False, server_default=func.now()),
)
reservation_allocations = Table(
    "reservation_allocations",
    metadata,
    Column("reservation_id", _UUID, nullable=False),
    Column("stock_id", _UUID, nullable=False),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("quantity", Integer, nullable=False),
    # The flash-sale claim the units were bought with (they come from the campaign's quota), if any.
    Column("claim_id", _UUID),
)
reservation_returns = Table(
    "reservation_returns",
    metadata,
    Column("return_reference", Text, primary_key=True),
    Column("reservation_id", _UUID, nullable=False),
    Column("lines_digest", Text, nullable=False),
    Column("returned", JSONB, nullable=False),
    Column("left_out", JSONB, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
flash_sale_allocations = Table(
    "flash_sale_allocations",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("campaign_id", _UUID, nullable=False),
    Column("sku_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("stock_id", _UUID, nullable=False),
    Column("shop_id", _UUID, nullable=False),
    Column("quota", Integer, nullable=False),
    Column("claimed", Integer, nullable=False),
    Column("per_buyer_limit", Integer, nullable=False),
    Column("starts_at", _TIME, nullable=False),
    Column("ends_at", _TIME, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    # When the campaign's unsold quota went back on sale, after its end.
    Column("closed_at", _TIME),
)
flash_sale_claims = Table(
    "flash_sale_claims",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("allocation_id", _UUID, nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("claim_key", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    # held → used (a reservation holds its units) → released (back to the quota); held → expired.
    Column("status", Text, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("reservation_reference", Text),
)
flash_sale_buyers = Table(
    "flash_sale_buyers",
    metadata,
    Column("allocation_id", _UUID, primary_key=True),
    Column("buyer_id", Text, primary_key=True),
    Column("quantity", Integer, nullable=False),
)
suppliers = Table(
    "suppliers",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("name", Text, nullable=False),
    Column("contact_name", Text, nullable=False),
    Column("contact_email", Text, nullable=False),
    Column("contact_phone", Text, nullable=False),
    Column("payment_terms_days", Integer, nullable=False),
    Column("lead_time_days", Integer, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)
supplier_items = Table(
    "supplier_items",
    metadata,
    Column("supplier_id", _UUID, primary_key=True),
    Column("sku_id", _UUID, primary_key=True),
    Column("supplier_sku", Text, nullable=False),
    Column("cost_amount", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("min_order_quantity", Integer, nullable=False),
)
purchase_orders = Table(
    "purchase_orders",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("supplier_id", _UUID, nullable=False),
    Column("warehouse_id", _UUID, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
    Column("submitted_at", _TIME, nullable=True),
    Column("expected_at", _TIME, nullable=True),
    Column("received_at", _TIME, nullable=True),
)
purchase_order_lines = Table(
    "purchase_order_lines",
    metadata,
    Column("purchase_order_id", _UUID, primary_key=True),
    Column("sku_id", _UUID, primary_key=True),
    Column("position", Integer, nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_cost", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("accepted", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
)
goods_receipts = Table(
    "goods_receipts",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("purchase_order_id", _UUID, nullable=False),
    Column("lines", JSONB, nullable=False),
    Column("actor", Text, nullable=False),
    Column("received_at", _TIME, nullable=False, server_default=func.now()),
)
