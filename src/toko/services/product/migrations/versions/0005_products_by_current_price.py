"""Listings ordered by the price buyers pay now: each product's lowest and highest current SKU price.

The current price of a SKU moves without its product changing (a schedule or campaign window, a
dynamic rule), so the product's current prices live in a table of their own, written by the
re-pricing under its own row lock rather than the product's. Filled from the SKUs' current prices;
the index on products by base price that listings used until now goes.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.create_table(
        "product_current_prices",
        sa.Column("product_id", _UUID, sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
        sa.Column(
            "min_price", sa.BigInteger, nullable=False, comment="its cheapest SKU's price of one unit now"
        ),
        sa.Column(
            "max_price", sa.BigInteger, nullable=False, comment="its dearest SKU's price of one unit now"
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
    )
    # Read forwards for "price asc" and backwards for "price desc"; the id makes each position unique.
    op.create_index(
        "product_current_prices_min_price_idx", "product_current_prices", ["min_price", "product_id"]
    )
    op.execute(
        """
        INSERT INTO product_current_prices (product_id, min_price, max_price)
        SELECT product_id, min(current), max(current)
        FROM (SELECT s.product_id, coalesce(sp.current_price, s.price) AS current
              FROM skus s LEFT JOIN sku_pricing sp ON sp.sku_id = s.id) AS priced
        GROUP BY product_id
        """
    )
    op.drop_index("products_status_min_price_id_idx", table_name="products")


def downgrade() -> None:
    op.create_index("products_status_min_price_id_idx", "products", ["status", "min_price", sa.text("id")])
    op.drop_table("product_current_prices")
