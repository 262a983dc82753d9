"""The phone an OVO charge is pushed to (Xendit's e-wallets).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("payments", sa.Column("mobile_number", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("payments", "mobile_number")
