"""What the product service's repositories share: telling which constraint a failed write violated."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError


def violated_constraint(error: IntegrityError) -> str | None:
    """The name of the constraint a failed write violated, when PostgreSQL named one."""
    # SQLAlchemy wraps asyncpg's exception, which names the constraint.
    cause = error.orig.__cause__ if error.orig is not None else None
    name = getattr(cause, "constraint_name", None) or getattr(error.orig, "constraint_name", None)
    return str(name) if name else None
