"""A ledger entry keeps the provider's own time of it, the day its settlement report lists it under.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("ledger_entries", sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True))
    # Reconciliation reads one day of the ledger by that day: the provider's where it said one.
    op.create_index(
        "ledger_entries_day_idx",
        "ledger_entries",
        [sa.text("coalesce(settled_at, created_at)")],
    )


def downgrade() -> None:
    op.drop_index("ledger_entries_day_idx", table_name="ledger_entries")
    op.drop_column("ledger_entries", "settled_at")
