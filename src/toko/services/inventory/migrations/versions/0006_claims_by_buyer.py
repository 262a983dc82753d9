"""A buyer's held flash-sale claims, found without reading every claim (ListFlashSaleClaims).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "flash_sale_claims_held_by_buyer_idx",
        "flash_sale_claims",
        ["buyer_id", "expires_at"],
        postgresql_where=sa.text("status = 'held'"),
    )


def downgrade() -> None:
    op.drop_index("flash_sale_claims_held_by_buyer_idx", table_name="flash_sale_claims")
