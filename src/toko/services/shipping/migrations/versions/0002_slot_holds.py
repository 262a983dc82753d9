"""Slot holds: a delivery slot's place kept for a checkout until its shipment books it or it is given back.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "slot_holds",
        sa.Column(
            "reference", sa.Text, primary_key=True, comment="the holder's: the same reference holds once"
        ),
        sa.Column("slot_id", sa.Text, sa.ForeignKey("delivery_slots.id"), nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False, comment="1 held, 2 booked, 3 released"),
        sa.Column(
            "expires_at", sa.DateTime(timezone=True), nullable=False, comment="lapses then if still held"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("char_length(reference) BETWEEN 1 AND 200", name="slot_holds_reference_length"),
        sa.CheckConstraint("state IN (1, 2, 3)", name="slot_holds_state"),
    )
    # Lapsing looks for a slot's holds still keeping a place; booked and released ones are history.
    op.create_index("slot_holds_held", "slot_holds", ["slot_id"], postgresql_where=sa.text("state = 1"))


def downgrade() -> None:
    op.drop_table("slot_holds")
