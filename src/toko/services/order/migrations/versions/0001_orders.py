"""Checkout quotes, checkouts, orders with their timelines, durable timers; and the platform's outbox,
inbox and idempotency tables.

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
        "checkout_quotes",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("request", JSONB, nullable=False, comment="the QuoteCheckoutRequest, to price it again"),
        sa.Column("quote", JSONB, nullable=False, comment="the CheckoutQuote as answered"),
        sa.Column(
            "address", JSONB, nullable=False, comment="the DeliveryAddress copied from the address book"
        ),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
    )
    op.create_index("checkout_quotes_expiry_idx", "checkout_quotes", ["expires_at"])
    op.create_table(
        "checkouts",
        sa.Column("id", UUID, primary_key=True),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column(
            "quote_id", UUID, nullable=False, comment="one checkout per quote: placing it twice is one"
        ),
        sa.Column("idempotency_key", sa.Text, nullable=True),
        sa.Column("request_hash", sa.Text, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("step", sa.SmallInteger, nullable=False, comment="the last saga step done (SagaStep)"),
        sa.Column("quote", JSONB, nullable=False),
        sa.Column("address", JSONB, nullable=False),
        sa.Column("cart_id", sa.Text, nullable=False),
        sa.Column("payment", JSONB, nullable=True),
        sa.Column("payment_id", sa.Text, nullable=True),
        sa.Column("cancel_reason", sa.Text, nullable=False),
        sa.Column("lease_until", WHEN, nullable=True, comment="who drives the saga: nobody once it passed"),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("expires_at", WHEN, nullable=False, comment="the payment's expiry"),
        sa.UniqueConstraint("quote_id", name="checkouts_quote_key"),
        sa.UniqueConstraint("buyer_id", "idempotency_key", name="checkouts_idempotency_key"),
        sa.CheckConstraint("state BETWEEN 1 AND 4", name="checkouts_state"),
        sa.CheckConstraint("step BETWEEN 0 AND 4", name="checkouts_step"),
    )
    op.create_index(
        "checkouts_placing_idx", "checkouts", ["lease_until"], postgresql_where=sa.text("state = 1")
    )
    op.create_table(
        "orders",
        sa.Column("id", UUID, primary_key=True, comment="UUIDv7: sorting by id sorts by creation"),
        sa.Column("checkout_id", UUID, nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("shop_id", sa.Text, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("details", JSONB, nullable=False, comment="the ShopQuote: lines, shipping, figures"),
        sa.Column("address", JSONB, nullable=False),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("payment_id", sa.Text, nullable=True),
        sa.Column("shipment_id", sa.Text, nullable=True),
        sa.Column("waybill", sa.Text, nullable=True),
        sa.Column("refunded", sa.BigInteger, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.CheckConstraint("state BETWEEN 1 AND 7", name="orders_state"),
        sa.CheckConstraint("total >= 0 AND refunded BETWEEN 0 AND total", name="orders_money"),
    )
    op.create_index("orders_checkout_idx", "orders", ["checkout_id"])
    op.create_index("orders_buyer_idx", "orders", ["buyer_id", sa.text("id DESC")])
    op.create_index("orders_shop_idx", "orders", ["shop_id", sa.text("id DESC")])
    op.create_table(
        "order_timeline",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("order_id", UUID, nullable=False),
        sa.Column("state", sa.SmallInteger, nullable=False),
        sa.Column("actor", sa.Text, nullable=False),
        sa.Column("actor_id", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("at", WHEN, nullable=False),
    )
    op.create_index("order_timeline_order_idx", "order_timeline", ["order_id", "id"])
    op.create_table(
        "timers",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("subject_id", UUID, nullable=False, comment="the checkout or the order"),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("due_at", WHEN, nullable=False),
        sa.UniqueConstraint("subject_id", "action", name="timers_subject_action_key"),
    )
    op.create_index("timers_due_idx", "timers", ["due_at"])


def downgrade() -> None:
    for table in ("timers", "order_timeline", "orders", "checkouts", "checkout_quotes"):
        op.drop_table(table)
    drop_platform_tables(cast("Operations", op))
