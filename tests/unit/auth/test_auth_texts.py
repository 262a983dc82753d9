"""Which language an account page speaks, and that it has every word in both."""

from __future__ import annotations

import pytest

from toko.services.auth.http.texts import TEXTS, pick_language


@pytest.mark.parametrize(
    ("asked", "accept_language", "expected"),
    [
        ("en", "id-ID,id;q=0.9", "en"),
        ("EN", "", "en"),
        ("id", "en-US", "id"),
        ("fr", "en-GB,en;q=0.9", "en"),
        ("", "fr-CH, fr;q=0.9, en;q=0.8, id;q=0.7", "en"),
        ("", "en;q=0.5, id-ID", "id"),
        ("", "in", "id"),
        ("", "en;q=0", "id"),
        ("", "en;q=banyak", "id"),
        ("", "de, ja", "id"),
        ("", "", "id"),
    ],
)
def test_the_language_asked_for_wins_then_the_browsers_preference_then_indonesian(
    asked: str, accept_language: str, expected: str
) -> None:
    assert pick_language(asked, accept_language) == expected


def test_every_word_is_there_in_both_languages() -> None:
    assert TEXTS["id"].keys() == TEXTS["en"].keys()
    assert all("{email}" in TEXTS["en"][key] for key in TEXTS["id"] if "{email}" in TEXTS["id"][key])
