"""Reconciliation: what the ledger and a provider's settlement report disagree on, and which days ran.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_mismatches",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("payment_id", sa.Text, nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("ledger_amount", sa.BigInteger, nullable=False),
        sa.Column("provider_amount", sa.BigInteger, nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        # A rerun of a day finds the same disagreements: each is recorded once.
        sa.UniqueConstraint("provider", "day", "payment_id", "kind", name="reconciliation_mismatches_key"),
    )
    op.create_index("reconciliation_mismatches_day_idx", "reconciliation_mismatches", ["day", "id"])
    op.create_table(
        "reconciliation_runs",
        sa.Column("provider", sa.Text, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("mismatches", sa.Integer, nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("reconciliation_runs")
    op.drop_table("reconciliation_mismatches")
