"""The platform tables every service database has: outbox, inbox and idempotency keys.

Code uses the SQLAlchemy Core tables below; a service's first Alembic migration
creates them with ``create_platform_tables(op)`` (and its downgrade drops them
with ``drop_platform_tables(op)``), so the tables live in the service's own
migration history next to its domain tables.

- ``outbox``: events committed with the change that raised them, waiting for the
  relay to publish them to JetStream (``sent_at`` is null until then).
- ``inbox``: the events each consumer has processed, so a redelivery is skipped.
- ``idempotency_keys``: the response to a retried write, replayed for the same key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    func,
    text,
)
from sqlalchemy.sql.schema import SchemaItem

if TYPE_CHECKING:
    from alembic.operations import Operations

__all__ = [
    "PLATFORM_TABLES",
    "create_platform_tables",
    "drop_platform_tables",
    "idempotency_keys",
    "inbox",
    "metadata",
    "outbox",
]

_UNSENT_INDEX = "outbox_unsent_idx"


def _outbox_items() -> list[SchemaItem]:
    # A factory rather than one list: a Column belongs to exactly one Table, and the migration needs its own.
    return [
        # The event id (UUIDv7), which is also the NATS message id JetStream deduplicates on.
        Column("id", Uuid(as_uuid=False), primary_key=True),
        Column("subject", Text, nullable=False, comment="NATS subject, toko.<source>.<EventName>"),
        Column("aggregate", Text, nullable=False, comment="id of the aggregate the event is about"),
        Column("type", Text, nullable=False, comment="fully qualified protobuf name of the payload"),
        Column("envelope", LargeBinary, nullable=False, comment="serialized toko.common.v1.EventEnvelope"),
        # clock_timestamp(), not now(): the row is written at commit, so this is closer to commit order
        # than the transaction's start time, which is what the relay wants to publish in.
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()),
        Column("sent_at", DateTime(timezone=True), nullable=True),
    ]


def _inbox_items() -> list[SchemaItem]:
    return [
        Column("consumer", Text, nullable=False),
        Column("event_id", Text, nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("consumer", "event_id", name="inbox_pkey"),
    ]


def _idempotency_items() -> list[SchemaItem]:
    return [
        Column("operation", Text, nullable=False, comment="the use case, e.g. order.PlaceOrder"),
        Column("key", Text, nullable=False, comment="the client's idempotency key"),
        Column("request_hash", Text, nullable=False, comment="sha256 of the request, to catch key reuse"),
        Column("response", LargeBinary, nullable=False, comment="serialized response, replayed on retry"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        PrimaryKeyConstraint("operation", "key", name="idempotency_keys_pkey"),
    ]


metadata = MetaData()

outbox = Table(
    "outbox",
    metadata,
    *_outbox_items(),
    # Only unsent rows are indexed, so the relay's claim query stays small however many rows were sent.
    Index(_UNSENT_INDEX, "created_at", "id", postgresql_where=text("sent_at IS NULL")),
)
inbox = Table("inbox", metadata, *_inbox_items())
idempotency_keys = Table("idempotency_keys", metadata, *_idempotency_items())

PLATFORM_TABLES = (outbox.name, inbox.name, idempotency_keys.name)


def create_platform_tables(op: Operations) -> None:
    """Create the outbox, inbox and idempotency tables (call from a service's first migration)."""
    op.create_table(outbox.name, *_outbox_items())
    op.create_index(
        _UNSENT_INDEX, outbox.name, ["created_at", "id"], postgresql_where=text("sent_at IS NULL")
    )
    op.create_table(inbox.name, *_inbox_items())
    op.create_table(idempotency_keys.name, *_idempotency_items())


def drop_platform_tables(op: Operations) -> None:
    """Drop the platform tables (the downgrade of ``create_platform_tables``)."""
    op.drop_table(idempotency_keys.name)
    op.drop_table(inbox.name)
    op.drop_index(_UNSENT_INDEX, table_name=outbox.name)
    op.drop_table(outbox.name)
