"""Payments, their append-only ledger, refunds and the providers' notifications as received; and the
platform's outbox, inbox and idempotency tables.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UUID = sa.Uuid(as_uuid=False)
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "payments",
        sa.Column("id", UUID, primary_key=True, comment="also the provider's order id"),
        sa.Column("checkout_id", sa.Text, nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("method", sa.SmallInteger, nullable=False),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column("provider_reference", sa.Text, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("instructions", JSONB, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.UniqueConstraint("checkout_id", name="payments_checkout_key"),
        sa.CheckConstraint("amount > 0", name="payments_amount"),
    )
    op.create_index(
        "payments_pending_expiry_idx", "payments", ["expires_at"], postgresql_where=sa.text("state = 1")
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("kind", sa.SmallInteger, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("refund_id", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("provider_reference", sa.Text, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.CheckConstraint("amount >= 0", name="ledger_entries_amount"),
        # One capture per payment, one row per refund: a notification applied twice writes nothing twice.
        sa.UniqueConstraint("payment_id", "refund_id", name="ledger_entries_refund_key"),
    )
    op.create_index(
        "ledger_entries_one_capture",
        "ledger_entries",
        ["payment_id"],
        unique=True,
        postgresql_where=sa.text("kind = 2"),
    )
    op.create_index("ledger_entries_payment_idx", "ledger_entries", ["payment_id", "id"])
    # The ledger is append-only: rows are never changed or removed, whatever the code does.
    op.execute(
        """
        CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the payment ledger is append-only';
        END $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
            FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()
        """
    )
    op.create_table(
        "refunds",
        sa.Column("payment_id", UUID, sa.ForeignKey("payments.id"), nullable=False),
        sa.Column("refund_id", sa.Text, nullable=False),
        sa.Column("amount", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("payment_id", "refund_id", name="refunds_pkey"),
        sa.CheckConstraint("amount > 0", name="refunds_amount"),
    )
    op.create_table(
        "provider_notifications",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("provider", sa.Text, nullable=False),
        sa.Column(
            "dedupe_key", sa.Text, nullable=False, comment="sha256 of the raw body: a replay is one row"
        ),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("payment_id", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),
        sa.Column("received_at", WHEN, nullable=False),
        sa.UniqueConstraint("provider", "dedupe_key", name="provider_notifications_dedupe_key"),
    )


def downgrade() -> None:
    op.drop_table("provider_notifications")
    op.drop_table("refunds")
    op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
    op.execute("DROP FUNCTION ledger_entries_append_only()")
    op.drop_table("ledger_entries")
    op.drop_table("payments")
    drop_platform_tables(cast("Operations", op))
