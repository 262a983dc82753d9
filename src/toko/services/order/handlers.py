"""The order service's use cases, one transaction each.

One function per command or query. Handlers take keyword-only arguments, the
caller's principal among them, and return protobuf messages. The events a write
raises are staged in its unit of work and committed with it, so they exist
exactly when the write does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from toko.order.v1 import events_pb2
from toko.order.v1 import order_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.errors import NotFound
from toko.platform.idempotency import idempotent
from toko.platform.ids import new_id, require_id
from toko.platform.validation import ruled
from toko.services.order import domain
from toko.services.order.error_codes import ErrorCode
from toko.services.order.mapping import note_to_proto
from toko.services.order.repository import NoteRepository

SOURCE = "order"
CREATE_NOTE_OPERATION = "order.CreateNote"


@dataclass(frozen=True)
class Notes:
    """What the use cases work with: the database and a clock."""

    database: Database
    clock: Clock = field(default=utcnow)


@dataclass(frozen=True)
class CreateNote:
    """Write a note."""

    text: str


async def create_note(
    *, notes: Notes, command: CreateNote, principal: Principal, idempotency_key: str = ""
) -> pb.Note:
    """Write a note as the caller; a retry with the same idempotency key gets the first answer."""
    async with notes.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation=CREATE_NOTE_OPERATION,
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.Note.FromString(replay.stored)
            note = ruled(
                partial(
                    domain.new_note,
                    note_id=new_id(),
                    text=command.text,
                    author_id=principal.subject,
                    now=notes.clock(),
                )
            )
            await NoteRepository(uow.session).add(note)
            message = note_to_proto(note)
            uow.publish(events_pb2.NoteCreated(note=message), subject=note.id)
            replay.response = message
        await uow.commit()
    return message


async def get_note(*, notes: Notes, note_id: str) -> pb.Note:
    """One note, or NOT_FOUND."""
    require_id(note_id, "id")
    async with notes.database.single_reads() as session:
        note = await NoteRepository(session).get(note_id)
    if note is None:
        raise NotFound(ErrorCode.NOTE_NOT_FOUND, f"no note {note_id}")
    return note_to_proto(note)


async def mark_seen(*, uow: UnitOfWork, note_id: str, at: datetime) -> bool:
    """Record, in the caller's unit of work, that the service saw the note; only the first time counts."""
    return await NoteRepository(uow.session).mark_seen(note_id, at)
