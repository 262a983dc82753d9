"""Quoted rates, delivery slots, shipments with their tracking, courier webhooks; the platform's tables.

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


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "shipping_rates",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True, comment="UUIDv7"),
        sa.Column("courier", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("service_name", sa.Text, nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("price", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("chargeable_grams", sa.Integer, nullable=False),
        sa.Column("etd_min_days", sa.SmallInteger, nullable=False),
        sa.Column("etd_max_days", sa.SmallInteger, nullable=False),
        sa.Column("cod_available", sa.Boolean, nullable=False),
        sa.Column("insurance_fee", sa.BigInteger, nullable=False),
        sa.Column("slotted", sa.Boolean, nullable=False),
        sa.Column("origin", JSONB, nullable=False),
        sa.Column("destination", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("shipping_rates_expires_at", "shipping_rates", ["expires_at"])
    op.create_table(
        "delivery_slots",
        sa.Column("id", sa.Text, primary_key=True, comment="the courier's slot id"),
        sa.Column("courier", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("capacity", sa.Integer, nullable=False),
        sa.Column("booked", sa.Integer, nullable=False, server_default="0"),
        sa.CheckConstraint("booked >= 0 AND booked <= capacity", name="delivery_slots_within_capacity"),
    )
    op.create_table(
        "shipments",
        sa.Column("id", sa.Uuid(as_uuid=False), primary_key=True, comment="UUIDv7"),
        sa.Column("order_id", sa.Text, nullable=False, unique=True, comment="one shipment per order"),
        sa.Column("shop_id", sa.Text, nullable=False),
        sa.Column("buyer_id", sa.Text, nullable=False),
        sa.Column("rate_id", sa.Uuid(as_uuid=False), nullable=False),
        sa.Column("courier", sa.Text, nullable=False),
        sa.Column("service", sa.Text, nullable=False),
        sa.Column("waybill", sa.Text, nullable=True, comment="empty until the courier accepts the booking"),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("slot_id", sa.Text, sa.ForeignKey("delivery_slots.id"), nullable=True),
        sa.Column("booking", JSONB, nullable=False, comment="what is sent to the courier to book it"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, comment="last status report"),
        sa.Column("polled_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        "shipments_courier_waybill",
        "shipments",
        ["courier", "waybill"],
        unique=True,
        postgresql_where=sa.text("waybill IS NOT NULL"),
    )
    # The tracking poller looks only at parcels still on their way.
    op.create_index(
        "shipments_in_flight", "shipments", ["updated_at"], postgresql_where=sa.text("status NOT IN (5, 7)")
    )
    op.create_table(
        "tracking_events",
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        sa.Column("shipment_id", sa.Uuid(as_uuid=False), sa.ForeignKey("shipments.id"), nullable=False),
        sa.Column("status", sa.SmallInteger, nullable=False),
        sa.Column("courier_status", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
        # A report reaches us by webhook and again by polling: it is the same report.
        sa.UniqueConstraint("shipment_id", "courier_status", "event_time", name="tracking_events_once"),
    )
    op.create_table(
        "courier_webhooks",
        sa.Column("courier", sa.Text, primary_key=True),
        sa.Column(
            "event_id", sa.Text, primary_key=True, comment="the courier's event id: replays are refused"
        ),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False, comment="as received, verified"),
    )


def downgrade() -> None:
    for table in ("courier_webhooks", "tracking_events", "shipments", "delivery_slots", "shipping_rates"):
        op.drop_table(table)
    drop_platform_tables(cast("Operations", op))
