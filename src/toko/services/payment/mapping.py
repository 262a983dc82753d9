"""Conversions between the service's protobuf messages and its domain objects."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.payment.v1 import payment_pb2 as pb
from toko.services.payment.domain import Note


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def note_to_proto(note: Note) -> pb.Note:
    """A note on the wire."""
    message = pb.Note(
        id=note.id,
        text=note.text,
        author_id=note.author_id,
        create_time=timestamp(note.created_at),
    )
    if note.seen_at is not None:
        message.seen_time.CopyFrom(timestamp(note.seen_at))
    return message
