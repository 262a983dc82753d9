"""The order service's domain: notes and the rules they obey.

Pure Python: no database, transport or proto imports (an import-linter contract
keeps it so). A broken rule raises ``toko.platform.rules.ValidationFailed`` with
every violation found; the handlers turn it into INVALID_ARGUMENT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from toko.platform.rules import Violation, raise_if
from toko.services.order.error_codes import ErrorCode

NOTE_TEXT_MAX_LENGTH = 500


@dataclass(frozen=True)
class Note:
    """A short text, who wrote it and when, and when the service's consumer saw it."""

    id: str
    text: str
    author_id: str
    created_at: datetime
    seen_at: datetime | None = None


def new_note(*, note_id: str, text: str, author_id: str, now: datetime) -> Note:
    """A note of trimmed ``text``; raise ``ValidationFailed`` when it is empty or too long."""
    text = text.strip()
    raise_if(
        []
        if 1 <= len(text) <= NOTE_TEXT_MAX_LENGTH
        else [Violation("note.text", f"1 to {NOTE_TEXT_MAX_LENGTH} characters", ErrorCode.INVALID_NOTE_TEXT)]
    )
    return Note(id=note_id, text=text, author_id=author_id, created_at=now)
