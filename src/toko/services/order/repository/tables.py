"""The order service's tables."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    MetaData,
    SmallInteger,
    Table,
    Text,
    Uuid,
)

from toko.services.order.repository.common import JSON_DOCUMENT

metadata = MetaData()

checkout_quotes = Table(
    "checkout_quotes",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("buyer_id", Text, nullable=False),
    Column("request", JSON_DOCUMENT, nullable=False),
    Column("quote", JSON_DOCUMENT, nullable=False),
    Column("address", JSON_DOCUMENT, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

checkouts = Table(
    "checkouts",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("buyer_id", Text, nullable=False),
    Column("quote_id", Uuid(as_uuid=False), nullable=False, unique=True),
    Column("idempotency_key", Text),
    Column("request_hash", Text, nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("step", SmallInteger, nullable=False),
    Column("quote", JSON_DOCUMENT, nullable=False),
    Column("address", JSON_DOCUMENT, nullable=False),
    Column("cart_id", Text, nullable=False),
    Column("payment", JSON_DOCUMENT),
    Column("payment_id", Text),
    Column("cancel_reason", Text, nullable=False),
    Column("lease_until", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("checkout_id", Uuid(as_uuid=False), nullable=False),
    Column("buyer_id", Text, nullable=False),
    Column("shop_id", Text, nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("details", JSON_DOCUMENT, nullable=False),
    Column("address", JSON_DOCUMENT, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("payment_id", Text),
    Column("shipment_id", Text),
    Column("waybill", Text),
    Column("refunded", BigInteger, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

order_timeline = Table(
    "order_timeline",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("order_id", Uuid(as_uuid=False), nullable=False),
    Column("state", SmallInteger, nullable=False),
    Column("actor", Text, nullable=False),
    Column("actor_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

timers = Table(
    "timers",
    metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    # The checkout's id for EXPIRE_CHECKOUT, the order's for the others.
    Column("subject_id", Uuid(as_uuid=False), nullable=False),
    Column("action", Text, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
)
