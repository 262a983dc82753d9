"""Warehouses, stock and its immutable ledger, reservations, flash-sale quotas and claims, suppliers and
purchase orders, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)
_NOW = sa.text("now()")


def _time(name: str, nullable: bool = False) -> sa.Column[datetime]:
    return sa.Column(
        name, sa.DateTime(timezone=True), nullable=nullable, server_default=None if nullable else _NOW
    )


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "warehouses",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("shop_id", _UUID, nullable=True, comment="null for a platform fulfilment centre"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        _time("created_at"),
        sa.CheckConstraint("kind IN ('shop', 'fulfilment_centre')", name="warehouses_kind_check"),
        sa.CheckConstraint("kind = 'fulfilment_centre' OR shop_id IS NOT NULL", name="warehouses_shop_check"),
    )
    op.create_index("warehouses_shop_id_idx", "warehouses", ["shop_id", "id"])
    op.create_table(
        "skus",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("product_id", _UUID, nullable=True, comment="known once ProductCreated arrived"),
        sa.Column("archived", sa.Boolean, nullable=False, server_default=sa.false()),
        # The SKU's available units over all warehouses, moved with every stock movement in the same
        # transaction; its row lock orders concurrent changes, so each sees the exact before and after.
        sa.Column("available", sa.Integer, nullable=False, server_default="0"),
        sa.Column("version", sa.BigInteger, nullable=False, server_default="0"),
        _time("created_at"),
    )
    op.create_table(
        "stock",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("sku_id", _UUID, sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("warehouse_id", _UUID, sa.ForeignKey("warehouses.id"), nullable=False),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("on_hand", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("available", sa.Integer, sa.Computed("on_hand - reserved", persisted=True)),
        sa.Column("safety_stock", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reorder_point", sa.Integer, nullable=False, server_default="0"),
        _time("created_at"),
        _time("updated_at"),
        sa.UniqueConstraint("sku_id", "warehouse_id", name="stock_sku_id_warehouse_id_key"),
        # The last line of defence: whatever a bug in the code does, stock never goes negative.
        sa.CheckConstraint("on_hand >= 0", name="stock_on_hand_check"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_reserved_check"),
        sa.CheckConstraint("safety_stock >= 0 AND reorder_point >= 0", name="stock_policy_check"),
    )
    op.create_index("stock_warehouse_id_idx", "stock", ["warehouse_id", "sku_id"])
    op.create_table(
        "stock_ledger",
        sa.Column("id", _UUID, primary_key=True, comment="UUIDv7: sorting by id sorts by time"),
        sa.Column("stock_id", _UUID, sa.ForeignKey("stock.id"), nullable=False),
        sa.Column("sku_id", _UUID, nullable=False),
        sa.Column("warehouse_id", _UUID, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("on_hand_delta", sa.Integer, nullable=False),
        sa.Column("reserved_delta", sa.Integer, nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        _time("created_at"),
        sa.CheckConstraint("on_hand_delta <> 0 OR reserved_delta <> 0", name="stock_ledger_moves_check"),
    )
    op.create_index("stock_ledger_stock_id_idx", "stock_ledger", ["stock_id", sa.text("id DESC")])
    op.create_index("stock_ledger_sales_idx", "stock_ledger", ["warehouse_id", "kind", "created_at"])
    # The ledger is append-only: corrections are new rows, never edits.
    op.execute(
        """
        CREATE FUNCTION stock_ledger_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'the stock ledger is append-only';
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER stock_ledger_immutable BEFORE UPDATE OR DELETE ON stock_ledger "
        "FOR EACH ROW EXECUTE FUNCTION stock_ledger_immutable()"
    )
    op.create_table(
        "reservations",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("reference", sa.Text, nullable=False, unique=True),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("lines", JSONB, nullable=False, comment="the lines as asked, [[sku_id, quantity], ...]"),
        sa.Column("lines_digest", sa.Text, nullable=False),
        sa.Column("buyer_city", sa.Text, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _time("created_at"),
        _time("updated_at"),
        sa.CheckConstraint(
            "status IN ('active', 'committed', 'released', 'expired')", name="reservations_status_check"
        ),
    )
    # The expiry worker's claim query reads only live reservations.
    op.create_index(
        "reservations_expiry_idx",
        "reservations",
        ["expires_at"],
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "reservation_allocations",
        sa.Column("reservation_id", _UUID, sa.ForeignKey("reservations.id"), nullable=False),
        sa.Column("stock_id", _UUID, sa.ForeignKey("stock.id"), nullable=False),
        sa.Column("sku_id", _UUID, nullable=False),
        sa.Column("warehouse_id", _UUID, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("reservation_id", "stock_id", name="reservation_allocations_pkey"),
        sa.CheckConstraint("quantity > 0", name="reservation_allocations_quantity_check"),
    )
    op.create_table(
        "flash_sale_allocations",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("campaign_id", _UUID, nullable=False),
        sa.Column("sku_id", _UUID, sa.ForeignKey("skus.id"), nullable=False),
        sa.Column("warehouse_id", _UUID, nullable=False),
        sa.Column("stock_id", _UUID, sa.ForeignKey("stock.id"), nullable=False),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("quota", sa.Integer, nullable=False),
        # Durably claimed units: the database's own guard against overselling, whatever Valkey says.
        sa.Column("claimed", sa.Integer, nullable=False, server_default="0"),
        sa.Column("per_buyer_limit", sa.Integer, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        _time("created_at"),
        sa.UniqueConstraint("campaign_id", "sku_id", name="flash_sale_allocations_campaign_sku_key"),
        sa.CheckConstraint("quota > 0 AND claimed >= 0 AND claimed <= quota", name="flash_sale_quota_check"),
        sa.CheckConstraint("per_buyer_limit >= 1", name="flash_sale_limit_check"),
        sa.CheckConstraint("ends_at > starts_at", name="flash_sale_window_check"),
    )
    op.create_index("flash_sale_allocations_sku_idx", "flash_sale_allocations", ["sku_id", "ends_at"])
    op.create_table(
        "flash_sale_claims",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("allocation_id", _UUID, sa.ForeignKey("flash_sale_allocations.id"), nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("claim_key", sa.Text, nullable=False, comment="idempotency key, or the claim id"),
        _time("created_at"),
        sa.UniqueConstraint("allocation_id", "claim_key", name="flash_sale_claims_key"),
        sa.CheckConstraint("quantity > 0", name="flash_sale_claims_quantity_check"),
    )
    op.create_table(
        "flash_sale_buyers",
        sa.Column("allocation_id", _UUID, sa.ForeignKey("flash_sale_allocations.id"), nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("allocation_id", "buyer_id", name="flash_sale_buyers_pkey"),
        sa.CheckConstraint("quantity > 0", name="flash_sale_buyers_quantity_check"),
    )
    op.create_table(
        "suppliers",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("contact_name", sa.Text, nullable=False),
        sa.Column("contact_email", sa.Text, nullable=False),
        sa.Column("contact_phone", sa.Text, nullable=False),
        sa.Column("payment_terms_days", sa.Integer, nullable=False),
        sa.Column("lead_time_days", sa.Integer, nullable=False),
        _time("created_at"),
    )
    op.create_index("suppliers_shop_id_idx", "suppliers", ["shop_id", "id"])
    op.create_table(
        "supplier_items",
        sa.Column("supplier_id", _UUID, sa.ForeignKey("suppliers.id"), nullable=False),
        sa.Column("sku_id", _UUID, nullable=False),
        sa.Column("supplier_sku", sa.Text, nullable=False),
        sa.Column("cost_amount", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("min_order_quantity", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("supplier_id", "sku_id", name="supplier_items_pkey"),
        sa.CheckConstraint("cost_amount >= 0 AND min_order_quantity >= 1", name="supplier_items_check"),
    )
    op.create_index("supplier_items_sku_id_idx", "supplier_items", ["sku_id"])
    op.create_table(
        "purchase_orders",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("supplier_id", _UUID, sa.ForeignKey("suppliers.id"), nullable=False),
        sa.Column("warehouse_id", _UUID, sa.ForeignKey("warehouses.id"), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        _time("created_at"),
        _time("submitted_at", nullable=True),
        _time("expected_at", nullable=True),
        _time("received_at", nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'partially_received', 'received', 'cancelled')",
            name="purchase_orders_status_check",
        ),
    )
    op.create_index("purchase_orders_supplier_idx", "purchase_orders", ["supplier_id", "submitted_at"])
    op.create_table(
        "purchase_order_lines",
        sa.Column("purchase_order_id", _UUID, sa.ForeignKey("purchase_orders.id"), nullable=False),
        sa.Column("sku_id", _UUID, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_cost", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("accepted", sa.Integer, nullable=False, server_default="0"),
        sa.Column("rejected", sa.Integer, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("purchase_order_id", "sku_id", name="purchase_order_lines_pkey"),
        sa.CheckConstraint(
            "quantity > 0 AND accepted >= 0 AND rejected >= 0 AND accepted + rejected <= quantity",
            name="purchase_order_lines_received_check",
        ),
    )
    op.create_table(
        "goods_receipts",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("purchase_order_id", _UUID, sa.ForeignKey("purchase_orders.id"), nullable=False),
        sa.Column("lines", JSONB, nullable=False, comment="[[sku_id, accepted, rejected], ...]"),
        sa.Column("actor", sa.Text, nullable=False),
        _time("received_at"),
    )


def downgrade() -> None:
    for table in (
        "goods_receipts",
        "purchase_order_lines",
        "purchase_orders",
        "supplier_items",
        "suppliers",
        "flash_sale_buyers",
        "flash_sale_claims",
        "flash_sale_allocations",
        "reservation_allocations",
        "reservations",
        "stock_ledger",
        "stock",
        "skus",
        "warehouses",
    ):
        op.drop_table(table)
    op.execute("DROP FUNCTION IF EXISTS stock_ledger_immutable()")
    drop_platform_tables(cast("Operations", op))
