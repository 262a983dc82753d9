"""An index of the lots holding unheld units by expiry date, for the worker writing off expired lots.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Partial: lots emptied (or wholly held) stay in the table for good, but leave the index.
    op.create_index(
        "stock_lots_expiring_idx",
        "stock_lots",
        ["expires_on"],
        postgresql_where=sa.text("on_hand > reserved"),
    )


def downgrade() -> None:
    op.drop_index("stock_lots_expiring_idx", table_name="stock_lots")
