"""Pricing: per-SKU pricing state, price history, scheduled prices, flash-sale campaigns, stock signals.

Existing SKUs get their pricing row and a first history row (their base price, as a manual change).

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, ExcludeConstraint

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)
_NOW = sa.text("now()")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    # The exclusion constraints compare a uuid for equality inside a GiST index (a trusted extension).
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "sku_pricing",
        sa.Column("sku_id", _UUID, sa.ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("floor_price", sa.BigInteger, nullable=True),
        sa.Column("ceiling_price", sa.BigInteger, nullable=True),
        sa.Column("tiers", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("dynamic_rules", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
        sa.Column("dynamic_price", sa.BigInteger, nullable=True),
        sa.Column("dynamic_rule_id", _UUID, nullable=True),
        sa.Column("current_price", sa.BigInteger, nullable=True, comment="price of one unit now"),
        sa.Column("current_source", sa.Text, nullable=False, server_default="base"),
        sa.Column("current_rule_id", _UUID, nullable=True),
        sa.Column("updated_at", _TIME, nullable=False, server_default=_NOW),
        sa.CheckConstraint(
            "floor_price IS NULL OR ceiling_price IS NULL OR floor_price <= ceiling_price",
            name="sku_pricing_bounds_check",
        ),
    )
    op.create_table(
        "price_history",
        sa.Column("id", _UUID, primary_key=True),
        # No foreign key: the history outlives a SKU removed from its product.
        sa.Column("sku_id", _UUID, nullable=False),
        sa.Column("product_id", _UUID, nullable=False),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("old_price", sa.BigInteger, nullable=True),
        sa.Column("new_price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("rule_id", _UUID, nullable=True),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("changed_at", _TIME, nullable=False),
        sa.CheckConstraint(
            "source IN ('manual', 'schedule', 'campaign', 'dynamic', 'tier')",
            name="price_history_source_check",
        ),
    )
    op.create_index("price_history_sku_idx", "price_history", ["sku_id", "changed_at", "id"])
    op.create_table(
        "price_schedules",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("sku_id", _UUID, sa.ForeignKey("skus.id", ondelete="CASCADE"), nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("cancelled_at", _TIME, nullable=True),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=_NOW),
        sa.CheckConstraint("ends_at > starts_at AND price >= 1", name="price_schedules_window_check"),
        # Two live schedules of one SKU never share an instant, whatever races the checks in Python.
        ExcludeConstraint(
            ("sku_id", "="),
            (sa.text("tstzrange(starts_at, ends_at)"), "&&"),
            name="price_schedules_no_overlap",
            where=sa.text("cancelled_at IS NULL"),
            using="gist",
        ),
    )
    op.create_table(
        "campaigns",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=_NOW),
        sa.CheckConstraint("ends_at > starts_at", name="campaigns_window_check"),
    )
    op.create_index("campaigns_ends_at_idx", "campaigns", ["ends_at", "starts_at", "id"])
    op.create_table(
        "campaign_skus",
        sa.Column("campaign_id", _UUID, sa.ForeignKey("campaigns.id"), primary_key=True),
        sa.Column("sku_id", _UUID, sa.ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("product_id", _UUID, nullable=False),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("campaign_price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("quota", sa.Integer, nullable=False),
        sa.Column("per_buyer_limit", sa.Integer, nullable=False),
        # The campaign's window, copied (campaign windows never change) for the exclusion constraint.
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("ends_at", _TIME, nullable=False),
        sa.Column("added_by", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=_NOW),
        sa.CheckConstraint(
            "campaign_price >= 1 AND quota >= 1 AND per_buyer_limit >= 1", name="campaign_skus_check"
        ),
        ExcludeConstraint(
            ("sku_id", "="),
            (sa.text("tstzrange(starts_at, ends_at)"), "&&"),
            name="campaign_skus_no_overlap",
            using="gist",
        ),
    )
    op.create_table(
        "price_boundaries",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("sku_id", _UUID, sa.ForeignKey("skus.id", ondelete="CASCADE"), nullable=False),
        sa.Column("due_at", _TIME, nullable=False),
        sa.Column("kind", sa.Text, nullable=False, comment="schedule or campaign"),
        sa.Column("ref_id", _UUID, nullable=False, comment="the schedule or campaign"),
        sa.Column("applied_at", _TIME, nullable=True),
    )
    # The scheduler's claim: due boundaries not applied yet, oldest first.
    op.create_index(
        "price_boundaries_due_idx",
        "price_boundaries",
        ["due_at"],
        postgresql_where=sa.text("applied_at IS NULL"),
    )
    op.create_index("price_boundaries_ref_idx", "price_boundaries", ["ref_id"])
    op.create_table(
        "sku_stock_signals",
        sa.Column("sku_id", _UUID, primary_key=True),
        sa.Column("available", sa.Integer, nullable=True, comment="units available, as inventory last said"),
        sa.Column("availability_version", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("updated_at", _TIME, nullable=False, server_default=_NOW),
    )
    op.create_table(
        "sku_daily_sales",
        sa.Column("sku_id", _UUID, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("units", sa.BigInteger, nullable=False),
    )
    op.execute(
        """
        INSERT INTO sku_pricing (sku_id, current_price, current_source)
        SELECT id, price, 'base' FROM skus
        """
    )
    op.execute(
        """
        INSERT INTO price_history (id, sku_id, product_id, shop_id, old_price, new_price, currency, source,
                                   actor, changed_at)
        SELECT gen_random_uuid(), s.id, p.id, p.shop_id, NULL, s.price, s.currency, 'manual', 'migration',
               p.updated_at
        FROM skus s JOIN products p ON p.id = s.product_id
        """
    )


def downgrade() -> None:
    for table in (
        "sku_daily_sales",
        "sku_stock_signals",
        "price_boundaries",
        "campaign_skus",
        "campaigns",
        "price_schedules",
        "price_history",
        "sku_pricing",
    ):
        op.drop_table(table)
