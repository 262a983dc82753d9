"""From broken domain rules (``toko.platform.rules``) to the platform's ``InvalidArgument``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from toko.platform.errors import FieldViolation, InvalidArgument
from toko.platform.rules import ValidationFailed, Violation

T = TypeVar("T")


def invalid(violations: Sequence[Violation]) -> InvalidArgument:
    """One INVALID_ARGUMENT naming every broken rule (its reason: the single cause, or VALIDATION_FAILED)."""
    return InvalidArgument.of(
        (FieldViolation(v.field, v.description, v.reason) for v in violations),
        reason=ValidationFailed(violations).reason,
    )


def ruled(build: Callable[[], T], *, also: Sequence[Violation] = ()) -> T:
    """Apply the domain's rules; report their violations together with ``also`` as one error."""
    try:
        result = build()
    except ValidationFailed as exc:
        raise invalid([*also, *exc.violations]) from exc
    if also:
        raise invalid(also)
    return result
