"""The catalog: categories, products, SKUs, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)
_NOW = sa.text("now()")


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "categories",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("parent_id", _UUID, sa.ForeignKey("categories.id"), nullable=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("path", ARRAY(_UUID), nullable=False, comment="ids from the root down to this one"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_NOW),
        # NULLS NOT DISTINCT: two root categories must not share a slug either.
        sa.UniqueConstraint(
            "parent_id", "slug", name="categories_parent_id_slug_key", postgresql_nulls_not_distinct=True
        ),
    )
    op.create_index("categories_path_idx", "categories", ["path"], postgresql_using="gin")
    op.create_table(
        "products",
        sa.Column("id", _UUID, primary_key=True, comment="UUIDv7: sorting by id sorts by creation"),
        sa.Column("shop_id", _UUID, nullable=False),
        sa.Column("category_id", _UUID, sa.ForeignKey("categories.id"), nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("slug", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("condition", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("attributes", JSONB, nullable=False),
        sa.Column("image_urls", JSONB, nullable=False),
        sa.Column("weight_grams", sa.Integer, nullable=False),
        sa.Column("length_mm", sa.Integer, nullable=False),
        sa.Column("width_mm", sa.Integer, nullable=False),
        sa.Column("height_mm", sa.Integer, nullable=False),
        sa.Column("options", JSONB, nullable=False),
        sa.Column("min_price", sa.BigInteger, nullable=False, comment="lowest SKU price, for listings"),
        sa.Column("max_price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("shop_id", "slug", name="products_shop_id_slug_key"),
        sa.CheckConstraint("condition IN ('new', 'used')", name="products_condition_check"),
        sa.CheckConstraint("status IN ('draft', 'active', 'archived')", name="products_status_check"),
        sa.CheckConstraint("min_price >= 1 AND max_price >= min_price", name="products_price_check"),
    )
    # The listing's filters, each followed by the keyset order (newest first).
    op.create_index("products_status_id_idx", "products", ["status", sa.text("id DESC")])
    op.create_index("products_shop_id_idx", "products", ["shop_id", "status", sa.text("id DESC")])
    op.create_index("products_category_id_idx", "products", ["category_id", "status", sa.text("id DESC")])
    op.create_table(
        "skus",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("product_id", _UUID, sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("option_values", JSONB, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("position", sa.Integer, nullable=False, comment="the seller's order"),
        sa.UniqueConstraint("product_id", "code", name="skus_product_id_code_key"),
        sa.CheckConstraint("price >= 1", name="skus_price_check"),
    )
    # The price-range filter: EXISTS a SKU of the product within the range.
    op.create_index("skus_product_id_price_idx", "skus", ["product_id", "price"])


def downgrade() -> None:
    op.drop_table("skus")
    op.drop_table("products")
    op.drop_table("categories")
    drop_platform_tables(cast("Operations", op))
