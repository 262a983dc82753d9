"""The gRPC servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1.payment_pb2_grpc import PaymentServiceServicer
from toko.platform.context import current_principal, idempotency_key_var
from toko.services.payment import handlers
from toko.services.payment.handlers import Notes


class PaymentServicer(PaymentServiceServicer):
    """Serves notes over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, notes: Notes) -> None:
        self._notes = notes

    async def CreateNote(self, request: pb.CreateNoteRequest, context: Any) -> pb.CreateNoteResponse:
        """Write a note."""
        note = await handlers.create_note(
            notes=self._notes,
            command=handlers.CreateNote(text=request.note.text),
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateNoteResponse(note=note)

    async def GetNote(self, request: pb.GetNoteRequest, context: Any) -> pb.GetNoteResponse:
        """Return a note."""
        return pb.GetNoteResponse(note=await handlers.get_note(notes=self._notes, note_id=request.id))
