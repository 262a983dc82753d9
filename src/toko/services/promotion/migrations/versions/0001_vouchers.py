"""Vouchers and their usages, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    ids = postgresql.ARRAY(sa.Text)
    op.create_table(
        "vouchers",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True),
        sa.Column("code", sa.Text, nullable=True, comment="upper case; NULL for an auto-applied voucher"),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("shop_id", sa.Text, nullable=True, comment="NULL for a platform voucher"),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("percent_bp", sa.Integer, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("min_spend", sa.BigInteger, nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_limit", sa.Integer, nullable=False),
        sa.Column("per_buyer_limit", sa.Integer, nullable=False),
        sa.Column("eligible_shop_ids", ids, nullable=False),
        sa.Column("eligible_category_ids", ids, nullable=False),
        sa.Column("eligible_sku_ids", ids, nullable=False),
        sa.Column("new_buyers_only", sa.Boolean, nullable=False),
        sa.Column("payment_methods", ids, nullable=False),
        sa.Column("auto_apply", sa.Boolean, nullable=False),
        sa.Column("held_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("redeemed_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        # The last line of defence: whatever the code does, the database never grants a usage too many.
        sa.CheckConstraint(
            "total_limit = 0 OR held_count + redeemed_count <= total_limit",
            name="vouchers_within_total_limit",
        ),
        sa.CheckConstraint("held_count >= 0 AND redeemed_count >= 0", name="vouchers_counts_not_negative"),
    )
    op.create_index(
        "vouchers_code", "vouchers", ["code"], unique=True, postgresql_where=sa.text("code IS NOT NULL")
    )
    op.create_index("vouchers_live", "vouchers", ["end_at", "id"])
    op.create_table(
        "voucher_usages",
        sa.Column("voucher_id", sa.Uuid(as_uuid=False), sa.ForeignKey("vouchers.id"), primary_key=True),
        sa.Column("checkout_id", sa.Text, primary_key=True),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("expire_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("voucher_usages_by_checkout", "voucher_usages", ["checkout_id"])
    op.create_index("voucher_usages_by_buyer", "voucher_usages", ["voucher_id", "buyer_id"])
    # The expiry worker's queue: held usages by when they lapse.
    op.create_index(
        "voucher_usages_held", "voucher_usages", ["expire_at"], postgresql_where=sa.text("state = 'held'")
    )


def downgrade() -> None:
    op.drop_table("voucher_usages")
    op.drop_table("vouchers")
    drop_platform_tables(cast("Operations", op))
