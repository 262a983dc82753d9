"""Carts and their lines, and the platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-04
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
        "carts",
        sa.Column(
            "id", sa.Uuid(as_uuid=False), primary_key=True, comment="UUIDv7; never shown for a guest cart"
        ),
        sa.Column("buyer_id", sa.Text, nullable=True, unique=True, comment="the owner's token subject"),
        sa.Column(
            "guest_token_hash",
            sa.LargeBinary,
            nullable=True,
            unique=True,
            comment="SHA-256 of the guest cart's id: the id is a bearer secret and is never stored",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True, comment="guest carts only"),
        sa.CheckConstraint("(buyer_id IS NULL) <> (guest_token_hash IS NULL)", name="carts_one_owner"),
        sa.CheckConstraint("(guest_token_hash IS NULL) = (expires_at IS NULL)", name="carts_guests_expire"),
    )
    # The expiry worker's queue, and its look at when the next cart comes due.
    op.create_index(
        "carts_expiry", "carts", ["expires_at"], postgresql_where=sa.text("expires_at IS NOT NULL")
    )
    op.create_table(
        "cart_lines",
        sa.Column(
            "cart_id", sa.Uuid(as_uuid=False), sa.ForeignKey("carts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sku_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("shop_id", sa.Text, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("selected", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("seen_unit_amount", sa.BigInteger, nullable=True),
        sa.Column("seen_unit_currency", sa.Text, nullable=True),
        sa.Column("seen_price_source", sa.Text, nullable=False, server_default=""),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("position", sa.Integer, nullable=False, comment="order of adding within the cart"),
        sa.PrimaryKeyConstraint("cart_id", "sku_id", name="cart_lines_one_per_sku"),
        sa.CheckConstraint("quantity BETWEEN 1 AND 999", name="cart_lines_quantity"),
        sa.CheckConstraint("char_length(note) <= 200", name="cart_lines_note"),
    )


def downgrade() -> None:
    op.drop_table("cart_lines")
    op.drop_table("carts")
    drop_platform_tables(cast("Operations", op))
