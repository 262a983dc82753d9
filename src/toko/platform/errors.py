"""Domain errors and their wire form.

Every error a client can cause is a ``DomainError`` with a stable, machine-readable
``reason`` (UPPER_SNAKE_CASE, e.g. ``SLUG_TAKEN``) and, for bad input, the fields at
fault. The gRPC layer turns them into ``google.rpc.Status`` with ``ErrorInfo`` and
``BadRequest`` details; the gateway turns those into RFC 9457 problem documents.

Hierarchy (each maps to one gRPC status code)::

    DomainError
    ├── InvalidArgument      INVALID_ARGUMENT     bad input; carries field violations
    ├── NotFound             NOT_FOUND
    ├── AlreadyExists        ALREADY_EXISTS       e.g. a slug already taken
    ├── FailedPrecondition   FAILED_PRECONDITION  the state forbids it (archived product…)
    ├── Conflict             ABORTED              concurrent change; retry
    ├── Unauthenticated      UNAUTHENTICATED
    ├── PermissionDenied     PERMISSION_DENIED
    └── ResourceExhausted    RESOURCE_EXHAUSTED   a limit was reached
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc

ERROR_DOMAIN = "toko"


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: its path in the request (``skus[0].price.amount``) and why."""

    field: str
    description: str
    reason: str = ""


@dataclass
class DomainError(Exception):
    """Base of every error a client can cause; never a 500."""

    reason: str
    message: str
    violations: list[FieldViolation] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    code: grpc.StatusCode = field(default=grpc.StatusCode.UNKNOWN, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


@dataclass
class InvalidArgument(DomainError):
    """The request is malformed or breaks a validation rule."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.INVALID_ARGUMENT, init=False, repr=False)

    @classmethod
    def of(cls, violations: Iterable[FieldViolation], reason: str = "VALIDATION_FAILED") -> InvalidArgument:
        """Build one error out of several field violations."""
        found = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in found[:5])
        return cls(reason, f"invalid request: {summary}", found)

    @classmethod
    def field(cls, name: str, description: str, reason: str) -> InvalidArgument:
        """Build an error about a single field, whose reason is also the error's reason."""
        return cls(reason, f"{name}: {description}", [FieldViolation(name, description, reason)])


@dataclass
class NotFound(DomainError):
    """The addressed resource does not exist (or the caller may not know it does)."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.NOT_FOUND, init=False, repr=False)


@dataclass
class AlreadyExists(DomainError):
    """A unique value is already taken."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.ALREADY_EXISTS, init=False, repr=False)


@dataclass
class FailedPrecondition(DomainError):
    """The resource's state does not allow the operation."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.FAILED_PRECONDITION, init=False, repr=False)


@dataclass
class Conflict(DomainError):
    """A concurrent change got there first; the client may retry."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.ABORTED, init=False, repr=False)


@dataclass
class Unauthenticated(DomainError):
    """No valid credentials were presented."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.UNAUTHENTICATED, init=False, repr=False)


@dataclass
class PermissionDenied(DomainError):
    """The caller is known but not allowed to do this."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.PERMISSION_DENIED, init=False, repr=False)


@dataclass
class ResourceExhausted(DomainError):
    """A quota or rate limit was reached."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.RESOURCE_EXHAUSTED, init=False, repr=False)
