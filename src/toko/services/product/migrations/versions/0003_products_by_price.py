"""Listings ordered by price: products by status, lowest SKU base price and id.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Read forwards for "price asc" and backwards for "price desc"; the id makes each position unique.
    op.create_index("products_status_min_price_id_idx", "products", ["status", "min_price", sa.text("id")])


def downgrade() -> None:
    op.drop_index("products_status_min_price_id_idx", table_name="products")
