"""The one rule for human-visible text: names, titles, labels a person reads.

Every service cleans such text with ``clean_text`` and checks it with ``text_violations`` (pure;
a ``domain`` may import this module):

- cleaned: NFC-normalised, trimmed, inner runs of whitespace made one space;
- refused when nothing visible is left: a name of spaces, or only of invisible characters
  (U+200B ZERO WIDTH SPACE, U+200C/U+200D joiners, U+2060 WORD JOINER, U+FEFF, U+3164 HANGUL
  FILLER …), would show as a blank where a person expects a name;
- refused when it holds bidirectional embedding, override or isolate controls (U+202A to U+202E,
  U+2066 to U+2069): they reorder what follows, so a name can display as something it is not
  (the "Trojan Source" trick), and no name needs them;
- refused when it holds a control character (C0, DEL, C1).

Joiners and other format characters inside visible text stay: emoji sequences and several
scripts need them.
"""

from __future__ import annotations

import unicodedata

from toko.platform.error_codes import ReasonCode
from toko.platform.rules import Violation

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Letters by category that nonetheless print as nothing.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")
# Categories that print nothing on their own: format characters, separators, combining marks.
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Mn", "Me", "Cc"})


def clean_text(value: str) -> str:
    """NFC-normalised, trimmed, inner runs of whitespace made one space."""
    return " ".join(unicodedata.normalize("NFC", value).split())


def is_visible(value: str) -> bool:
    """Whether ``value`` holds at least one character that prints."""
    return any(
        char not in _BLANK_LETTERS and unicodedata.category(char) not in _INVISIBLE_CATEGORIES
        for char in value
    )


def text_violations(
    value: str,
    path: str,
    reason: ReasonCode,
    *,
    maximum: int,
    minimum: int = 1,
    what: str = "characters",
) -> list[Violation]:
    """What is wrong with cleaned text ``value`` at ``path`` (at most one violation)."""
    if any(unicodedata.category(char) == "Cc" for char in value):
        return [Violation(path, "must not contain control characters", reason)]
    if any(char in BIDI_CONTROLS for char in value):
        return [Violation(path, "must not contain bidirectional control characters", reason)]
    if value and not is_visible(value):
        return [Violation(path, "must contain visible characters", reason)]
    if not minimum <= len(value) <= maximum:
        if minimum <= 0:
            return [Violation(path, f"must be at most {maximum} {what}", reason)]
        return [Violation(path, f"must be {minimum} to {maximum} {what}", reason)]
    return []


def checked_text(
    raw: str, path: str, reason: ReasonCode, *, maximum: int, minimum: int = 1
) -> tuple[str, list[Violation]]:
    """``raw`` cleaned, and what is wrong with it."""
    value = clean_text(raw)
    return value, text_violations(value, path, reason, maximum=maximum, minimum=minimum)


def rupiah(amount: int) -> str:
    """``1.250.000``: thousands grouped with dots, as Indonesian prices are written to a person."""
    return f"{amount:,}".replace(",", ".")
