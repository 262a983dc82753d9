"""Units a committed reservation sold, put back on hand (an order cancelled before it left), once per return.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reservation_returns",
        sa.Column("return_reference", sa.Text, primary_key=True),
        sa.Column("reservation_id", sa.Uuid, sa.ForeignKey("reservations.id"), nullable=False),
        sa.Column("lines_digest", sa.Text, nullable=False),
        # [[stock id, sku id, warehouse id, units], …] as put back; [sku id, …] left out (perishable).
        sa.Column("returned", JSONB, nullable=False),
        sa.Column("left_out", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("reservation_returns_reservation_idx", "reservation_returns", ["reservation_id"])


def downgrade() -> None:
    op.drop_table("reservation_returns")
