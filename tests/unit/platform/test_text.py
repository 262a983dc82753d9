"""The text rule for names and titles: blank, invisible and reordering text is refused, real names pass."""

from __future__ import annotations

import pytest

from toko.platform.error_codes import CommonReason
from toko.platform.text import checked_text

REASON = CommonReason.VALIDATION_FAILED


def check(raw: str, maximum: int = 50) -> tuple[str, list[str]]:
    value, violations = checked_text(raw, "name", REASON, maximum=maximum)
    return value, [v.description for v in violations]


@pytest.mark.parametrize(
    "raw",
    ["\u200b", "\u200c\u200d", "\u2060", "\ufeff", "\u200b \u200b", "\u3164", " \u00a0 ", "\u0301"],
    ids=["zwsp", "joiners", "word-joiner", "bom", "zwsp-spaces", "hangul-filler", "spaces", "lone-mark"],
)
def test_a_name_with_nothing_visible_is_refused(raw: str) -> None:
    _, problems = check(raw)

    assert problems, f"{raw!r} was accepted"


@pytest.mark.parametrize("control", ["\u202e", "\u2066", "\u2069", "\u202a"])
def test_a_name_with_a_bidirectional_control_is_refused(control: str) -> None:
    _, problems = check(f"Budi{control}exe.txt")

    assert problems == ["must not contain bidirectional control characters"]


def test_control_characters_are_refused() -> None:
    assert check("Budi\x07")[1] == ["must not contain control characters"]


@pytest.mark.parametrize(
    "raw", ["Budi Santoso", "Siti Nurhaliza 👩\u200d👩\u200d👧", "منصور", "José", "李小龍", "O'Brien"]
)
def test_real_names_pass(raw: str) -> None:
    value, problems = check(raw)

    assert problems == []
    assert value == raw


def test_text_is_trimmed_normalised_and_its_spaces_collapsed() -> None:
    value, problems = check("  Jose\u0301   Rizal \n")

    assert (value, problems) == ("José Rizal", [])


def test_length_is_checked_after_cleaning() -> None:
    assert check("x" * 51)[1] == ["must be 1 to 50 characters"]
    assert check("")[1] == ["must be 1 to 50 characters"]
