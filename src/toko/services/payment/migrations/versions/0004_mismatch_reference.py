"""A mismatch names the provider's reference of the charge too (a report's row may name nothing else).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "reconciliation_mismatches",
        sa.Column("provider_reference", sa.Text, nullable=False, server_default=""),
    )
    # What was found before names its payment's reference too, so that a rerun finds it recorded; and
    # a Xendit refund recorded under its charge's id ("charge:<id>") becomes what it is: a reference.
    op.execute(
        "UPDATE reconciliation_mismatches AS m SET provider_reference = p.provider_reference"
        " FROM payments AS p WHERE p.id::text = m.payment_id"
    )
    op.execute(
        "UPDATE reconciliation_mismatches SET provider_reference = substr(payment_id, 8), payment_id = ''"
        " WHERE payment_id LIKE 'charge:%'"
    )
    # Charges toko knows no payment of are told apart by their reference (their payment_id is empty).
    op.drop_constraint("reconciliation_mismatches_key", "reconciliation_mismatches", type_="unique")
    op.create_unique_constraint(
        "reconciliation_mismatches_key",
        "reconciliation_mismatches",
        ["provider", "day", "payment_id", "provider_reference", "kind"],
    )


def downgrade() -> None:
    op.drop_constraint("reconciliation_mismatches_key", "reconciliation_mismatches", type_="unique")
    op.execute("DELETE FROM reconciliation_mismatches WHERE payment_id = ''")
    op.create_unique_constraint(
        "reconciliation_mismatches_key",
        "reconciliation_mismatches",
        ["provider", "day", "payment_id", "kind"],
    )
    op.drop_column("reconciliation_mismatches", "provider_reference")
