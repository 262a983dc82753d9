"""Availability as product reads show it: in stock and the quantity bucket, as inventory last reported.

The stock signals kept for the dynamic rules gain both; rows already there get them back from the
units recorded (the least of their bucket).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL until inventory reports on the SKU: its availability is unknown.
    op.add_column("sku_stock_signals", sa.Column("in_stock", sa.Boolean, nullable=True))
    op.add_column(
        "sku_stock_signals",
        sa.Column(
            "quantity_bucket", sa.Text, nullable=True, comment="as inventory reports it: 0, 1-5, 6-20, 21+"
        ),
    )
    op.execute(
        """
        UPDATE sku_stock_signals
        SET in_stock = available > 0,
            quantity_bucket = CASE WHEN available <= 0 THEN '0' WHEN available <= 5 THEN '1-5'
                                   WHEN available <= 20 THEN '6-20' ELSE '21+' END
        WHERE available IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_column("sku_stock_signals", "quantity_bucket")
    op.drop_column("sku_stock_signals", "in_stock")
