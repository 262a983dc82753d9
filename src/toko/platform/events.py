"""Domain events on the wire: the envelope, subjects and streams.

Every event is a protobuf message wrapped in ``toko.common.v1.EventEnvelope``
and published on the subject ``toko.<source>.<EventName>`` (for example
``toko.product.ProductCreated``) into the stream ``TOKO_<SOURCE>``. The NATS
message id is the envelope id, so JetStream drops a duplicate publish.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.context import TraceContext
from toko.platform.ids import new_id

SUBJECT_PREFIX = "toko"
DEAD_LETTER_PREFIX = "toko.dlq"


def event_subject(source: str, event_name: str) -> str:
    """The NATS subject an event of ``source`` is published on."""
    return f"{SUBJECT_PREFIX}.{source}.{event_name}"


def stream_name(source: str) -> str:
    """The JetStream stream holding every event of ``source``."""
    return f"TOKO_{source.upper()}"


@dataclass(frozen=True)
class PendingEvent:
    """A domain event raised by a use case and not yet in the outbox."""

    source: str
    subject: str
    message: Message
    trace: TraceContext | None = None
    id: str = field(default_factory=new_id)
    time: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def type(self) -> str:
        """Fully qualified protobuf name of the event."""
        return self.message.DESCRIPTOR.full_name

    @property
    def nats_subject(self) -> str:
        """Subject the event is published on."""
        return event_subject(self.source, self.message.DESCRIPTOR.name)

    def envelope(self) -> EventEnvelope:
        """Wrap the event in the envelope consumers receive."""
        payload = AnyMessage()
        payload.Pack(self.message)
        timestamp = Timestamp()
        timestamp.FromDatetime(self.time)
        trace = self.trace.child() if self.trace else None
        return EventEnvelope(
            id=self.id,
            type=self.type,
            source=self.source,
            subject=self.subject,
            time=timestamp,
            traceparent=trace.traceparent if trace else "",
            tracestate=trace.tracestate if trace else "",
            payload=payload,
        )
