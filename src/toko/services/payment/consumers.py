"""Event handlers of the payment service, each run by an ``EventConsumer``.

The service follows its own NoteCreated events and records on each note when it
saw it (``seen_time``), which GetNote shows. The consumer's inbox makes each
event's effect happen once, and marking a note seen again changes nothing either,
so a redelivered event is harmless.
"""

from __future__ import annotations

from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.payment.v1 import events_pb2
from toko.platform.clock import Clock, utcnow
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.services.payment.handlers import SOURCE, mark_seen

NOTES_SEEN_CONSUMER = "payment-notes-seen"
NOTES_SEEN_SUBJECTS = (event_subject(SOURCE, events_pb2.NoteCreated.DESCRIPTOR.name),)


class NotesSeen:
    """Marks a note seen when its NoteCreated event arrives."""

    def __init__(self, clock: Clock = utcnow) -> None:
        self._clock = clock

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Mark the note the event is about seen, in the consumer's unit of work."""
        if isinstance(payload, events_pb2.NoteCreated):
            await mark_seen(uow=uow, note_id=payload.note.id, at=self._clock())
