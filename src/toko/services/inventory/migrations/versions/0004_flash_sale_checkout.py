"""Flash-sale claims bought through checkout: a claim lapses unless a reservation uses it, and a campaign's
unclaimed quota goes back on sale when it ends.

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
    # Claims made before this revision are taken as held until a day from now, like any new claim.
    op.add_column(
        "flash_sale_claims",
        sa.Column("status", sa.Text, nullable=False, server_default="held"),
    )
    op.add_column(
        "flash_sale_claims",
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("now() + interval '1 day'"),
        ),
    )
    op.add_column("flash_sale_claims", sa.Column("reservation_reference", sa.Text, nullable=True))
    op.create_check_constraint(
        "flash_sale_claims_status_check",
        "flash_sale_claims",
        "status IN ('held', 'used', 'released', 'expired')",
    )
    # The upkeep worker looks for held claims past their time.
    op.create_index(
        "flash_sale_claims_held_idx",
        "flash_sale_claims",
        ["expires_at"],
        postgresql_where=sa.text("status = 'held'"),
    )
    op.add_column("flash_sale_allocations", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("reservation_allocations", sa.Column("claim_id", sa.Uuid, nullable=True))


def downgrade() -> None:
    op.drop_column("reservation_allocations", "claim_id")
    op.drop_column("flash_sale_allocations", "closed_at")
    op.drop_index("flash_sale_claims_held_idx", table_name="flash_sale_claims")
    op.drop_constraint("flash_sale_claims_status_check", "flash_sale_claims")
    op.drop_column("flash_sale_claims", "reservation_reference")
    op.drop_column("flash_sale_claims", "expires_at")
    op.drop_column("flash_sale_claims", "status")
