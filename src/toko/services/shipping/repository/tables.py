"""The shipping service's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)

from toko.services.shipping.repository.common import JSON_DOCUMENT

metadata = MetaData()

shipping_rates = Table(
    "shipping_rates",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("courier", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("service_name", Text, nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("chargeable_grams", Integer, nullable=False),
    Column("etd_min_days", SmallInteger, nullable=False),
    Column("etd_max_days", SmallInteger, nullable=False),
    Column("cod_available", Boolean, nullable=False),
    Column("insurance_fee", BigInteger, nullable=False),
    Column("slotted", Boolean, nullable=False),
    Column("origin", JSON_DOCUMENT, nullable=False),
    Column("destination", JSON_DOCUMENT, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

delivery_slots = Table(
    "delivery_slots",
    metadata,
    Column("id", Text, primary_key=True),
    Column("courier", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("starts_at", DateTime(timezone=True), nullable=False),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("booked", Integer, nullable=False),
)

slot_holds = Table(
    "slot_holds",
    metadata,
    Column("reference", Text, primary_key=True),
    Column("slot_id", Text, nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

shipments = Table(
    "shipments",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("order_id", Text, nullable=False),
    Column("shop_id", Text, nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("rate_id", Uuid(as_uuid=False), nullable=False),
    Column("courier", Text, nullable=False),
    Column("service", Text, nullable=False),
    Column("waybill", Text, nullable=True),
    Column("status", SmallInteger, nullable=False),
    Column("slot_id", Text, nullable=True),
    Column("booking", JSON_DOCUMENT, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("polled_at", DateTime(timezone=True), nullable=True),
)

tracking_events = Table(
    "tracking_events",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("shipment_id", Uuid(as_uuid=False), nullable=False),
    Column("status", SmallInteger, nullable=False),
    Column("courier_status", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("location", Text, nullable=False),
    Column("event_time", DateTime(timezone=True), nullable=False),
)

courier_webhooks = Table(
    "courier_webhooks",
    metadata,
    Column("courier", Text, primary_key=True),
    Column("event_id", Text, primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("body", LargeBinary, nullable=False),
)


# ---- rates --------------------------------------------------------------------------------------
