"""Broken rules, as a domain reports them: pure Python, importable from any ``domain.py``.

A domain's rule functions raise ``ValidationFailed`` carrying every ``Violation`` found, not
only the first, so a client fixes its request in one round trip. ``collect`` runs several
checks and gathers what they report; ``raise_if`` raises when anything was found. At the
edge of the use case ``toko.platform.validation`` turns them into ``InvalidArgument``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from toko.platform.error_codes import CommonReason, ReasonCode


@dataclass(frozen=True)
class Violation:
    """One broken rule: the field's path in the request (``skus[1].price.amount``), why, and its reason."""

    field: str
    description: str
    reason: ReasonCode


class ValidationFailed(Exception):
    """One or more values break the rules."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = tuple(violations)
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in self.violations))

    @property
    def reason(self) -> ReasonCode:
        """The single cause when there is one, otherwise ``VALIDATION_FAILED``."""
        reasons = {v.reason for v in self.violations}
        return reasons.pop() if len(reasons) == 1 else CommonReason.VALIDATION_FAILED


def raise_if(violations: Sequence[Violation]) -> None:
    """Raise ``ValidationFailed`` when there is anything to report."""
    if violations:
        raise ValidationFailed(violations)


def collect(*checks: Callable[[], object]) -> list[Violation]:
    """Run checks that raise ``ValidationFailed``; every violation they report, in order."""
    found: list[Violation] = []
    for check in checks:
        try:
            check()
        except ValidationFailed as exc:
            found += exc.violations
    return found
