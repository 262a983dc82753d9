"""The order service's rules, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from toko.platform.rules import ValidationFailed
from toko.services.order.domain import NOTE_TEXT_MAX_LENGTH, new_note
from toko.services.order.error_codes import ErrorCode

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def test_a_note_keeps_its_trimmed_text_and_its_author() -> None:
    note = new_note(note_id="n-1", text="  Halo dunia  ", author_id="user-1", now=NOW)

    assert (note.text, note.author_id, note.created_at, note.seen_at) == ("Halo dunia", "user-1", NOW, None)


@pytest.mark.parametrize("text", ["", "   ", "x" * (NOTE_TEXT_MAX_LENGTH + 1)])
def test_an_empty_or_overlong_note_is_refused_naming_its_field(text: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        new_note(note_id="n-1", text=text, author_id="user-1", now=NOW)

    violations = [(v.field, v.reason) for v in refused.value.violations]
    assert violations == [("note.text", ErrorCode.INVALID_NOTE_TEXT)]
