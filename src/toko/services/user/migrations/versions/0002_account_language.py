"""An account's language: the emails and pages it gets are in Indonesian ("id", the default) or English.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A constant default: PostgreSQL adds the column without rewriting the table.
    op.add_column("users", sa.Column("language", sa.Text, nullable=False, server_default="id"))
    op.create_check_constraint("users_language_check", "users", "language IN ('id', 'en')")


def downgrade() -> None:
    op.drop_constraint("users_language_check", "users", type_="check")
    op.drop_column("users", "language")
