"""Notes, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "notes",
        sa.Column(
            "id", sa.Uuid(as_uuid=False), primary_key=True, comment="UUIDv7: sorting by id sorts by creation"
        ),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("author_id", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), nullable=True, comment="set by the notes-seen consumer"
        ),
    )


def downgrade() -> None:
    op.drop_table("notes")
    drop_platform_tables(cast("Operations", op))
