"""Notes through the real payment service: written once, read back, seen by its own consumer."""

from __future__ import annotations

import uuid

import grpc
from payment_testkit import Eventually, as_user, failure
from sqlalchemy import func, select

from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.db import Database
from toko.platform.schema import outbox

Stub = payment_pb2_grpc.PaymentServiceStub


async def test_a_note_is_written_read_back_and_seen_by_the_consumer(
    stub: Stub, database: Database, eventually: Eventually
) -> None:
    # Given a signed-in caller
    caller = f"user-{uuid.uuid4().hex[:8]}"

    # When they write a note
    request = pb.CreateNoteRequest(note=pb.Note(text=" Halo "))
    written = (await stub.CreateNote(request, metadata=as_user(caller))).note

    # Then anyone reads it back, and the service's consumer of NoteCreated marks it seen
    assert (written.text, written.author_id, written.HasField("seen_time")) == ("Halo", caller, False)

    async def seen() -> bool:
        note = (await stub.GetNote(pb.GetNoteRequest(id=written.id))).note
        return note.HasField("seen_time")

    await eventually(seen)
    assert await _events_about(database, written.id) == ["toko.payment.v1.NoteCreated"]


async def test_a_retried_write_with_the_same_idempotency_key_writes_one_note(
    stub: Stub, database: Database
) -> None:
    caller = as_user()
    key = (("idempotency-key", str(uuid.uuid4())),)
    request = pb.CreateNoteRequest(note=pb.Note(text="Sekali saja"))

    first = await stub.CreateNote(request, metadata=caller + key)
    again = await stub.CreateNote(request, metadata=caller + key)

    assert again.note == first.note
    assert await _events_about(database, first.note.id) == ["toko.payment.v1.NoteCreated"]


async def test_a_bad_note_is_refused_naming_its_field_and_writes_nothing(
    stub: Stub, database: Database
) -> None:
    before = await _count_events(database)

    blank = pb.CreateNoteRequest(note=pb.Note(text="  "))
    code, reason, fields = await failure(stub.CreateNote(blank, metadata=as_user()))

    assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_NOTE_TEXT", ["note.text"])
    assert await _count_events(database) == before


async def test_writing_needs_a_signed_in_caller(stub: Stub) -> None:
    code, reason, _ = await failure(stub.CreateNote(pb.CreateNoteRequest(note=pb.Note(text="Halo"))))

    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "AUTHENTICATION_REQUIRED")


async def test_an_unknown_or_malformed_id_is_answered_plainly(stub: Stub) -> None:
    assert (await failure(stub.GetNote(pb.GetNoteRequest(id=str(uuid.uuid4())))))[:2] == (
        grpc.StatusCode.NOT_FOUND,
        "NOTE_NOT_FOUND",
    )
    assert await failure(stub.GetNote(pb.GetNoteRequest(id="not-an-id"))) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ID",
        ["id"],
    )


async def _events_about(database: Database, note_id: str) -> list[str]:
    async with database.sessions() as session:
        rows = await session.execute(select(outbox.c.type).where(outbox.c.aggregate == note_id))
    return [row.type for row in rows]


async def _count_events(database: Database) -> int:
    async with database.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(outbox))).scalar_one())
