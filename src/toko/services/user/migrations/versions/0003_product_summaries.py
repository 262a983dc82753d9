"""The wishlist's read model of products: title, cover image and status per product, price and stock per SKU.

Fed by the product service's product and price events and the inventory's availability events
(``toko.services.user.consumers``); nothing here is checked against those services.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)
_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "product_summaries",
        sa.Column("product_id", _UUID, primary_key=True),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("image_url", sa.Text, nullable=False, comment="the cover image; empty when none"),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column(
            "sku_ids", postgresql.ARRAY(_UUID), nullable=False, comment="the product's SKUs as of its version"
        ),
        # An older event of the product (redelivered, or overtaken) is ignored.
        sa.Column(
            "version",
            sa.BigInteger,
            nullable=False,
            comment="the product's version last applied; 0 when only its archiving is known",
        ),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'archived')", name="product_summaries_status_check"
        ),
    )
    op.create_table(
        "product_summary_skus",
        sa.Column("sku_id", _UUID, primary_key=True),
        sa.Column("price_amount", sa.BigInteger, nullable=True, comment="price of one unit now, minor units"),
        sa.Column("currency", sa.Text, nullable=True),
        # Null while only the base price of a product event is known; a price change always wins over it.
        sa.Column("price_changed_at", _TZ, nullable=True),
        sa.Column("price_change_id", _UUID, nullable=True),
        sa.Column("in_stock", sa.Boolean, nullable=True, comment="null until the inventory announced it"),
        sa.Column("availability_version", sa.BigInteger, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("product_summary_skus")
    op.drop_table("product_summaries")
