"""Perishable SKUs and their lots: each stock line of a perishable SKU split into lots with expiry dates.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)


def upgrade() -> None:
    op.add_column(
        "skus",
        sa.Column(
            "perishable",
            sa.Boolean,
            nullable=False,
            server_default=sa.false(),
            comment="its stock is kept in lots with expiry dates, sold first-expired-first-out",
        ),
    )
    op.create_table(
        "stock_lots",
        sa.Column("stock_id", _UUID, sa.ForeignKey("stock.id"), primary_key=True),
        sa.Column("lot_code", sa.Text, primary_key=True),
        sa.Column("expires_on", sa.Date, primary_key=True, comment="last day the lot may be sold"),
        sa.Column("sku_id", _UUID, nullable=False),
        sa.Column("warehouse_id", _UUID, nullable=False),
        # Kept in step with the stock line in the same transaction: the lots of a line sum to it.
        sa.Column("on_hand", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reserved", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.text("now()")),
        sa.CheckConstraint("on_hand >= 0", name="stock_lots_on_hand_check"),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_lots_reserved_check"),
    )
    op.create_index("stock_lots_fefo_idx", "stock_lots", ["stock_id", "expires_on", "lot_code"])


def downgrade() -> None:
    op.drop_table("stock_lots")
    op.drop_column("skus", "perishable")
