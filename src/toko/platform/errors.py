"""Domain errors and their wire form.

Every error a client can cause is a ``DomainError`` with a stable, machine-readable
``reason`` (a ``ReasonCode`` member, UPPER_SNAKE_CASE on the wire, e.g. ``SLUG_TAKEN``; see
``toko.platform.error_codes``) and, for bad input, the fields at
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
    ├── ResourceExhausted    RESOURCE_EXHAUSTED   a limit was reached
    └── Unavailable          UNAVAILABLE          a dependency is out of reach; retry

``is_unavailable`` tells which unexpected exceptions are a dependency out of reach (a database
connection lost in a restart or failover, Valkey unreachable, a refused socket) rather than a bug:
the gRPC layer answers those with ``Unavailable`` instead of INTERNAL. ``is_transaction_conflict``
tells which are PostgreSQL ending a transaction to let a concurrent one through (a deadlock, a
serialization failure): those are answered with ``Conflict`` (TRANSACTION_CONFLICT), safe to retry.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc
from redis.exceptions import ConnectionError as ValkeyConnectionError
from redis.exceptions import TimeoutError as ValkeyTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from toko.platform.error_codes import CommonReason, ReasonCode

ERROR_DOMAIN = "toko"
# SQLSTATEs of a transaction PostgreSQL rolled back in favour of a concurrent one: serialization_failure,
# deadlock_detected. Nothing was written; the same request may simply be sent again.
_CONFLICT_SQLSTATES = frozenset({"40001", "40P01"})
# Socket-level failures to reach a server. Not every OSError: a missing file is a bug, not an outage.
_UNREACHABLE = (ConnectionError, TimeoutError, socket.gaierror, ValkeyConnectionError, ValkeyTimeoutError)


@dataclass(frozen=True)
class FieldViolation:
    """One invalid field: its path in the request (``skus[0].price.amount``) and why.

    ``reason`` is a string because the gateway also rebuilds violations from the wire; what a
    service raises carries a ``ReasonCode`` member.
    """

    field: str
    description: str
    reason: str = ""


@dataclass
class DomainError(Exception):
    """Base of every error a client can cause; never a 500."""

    reason: ReasonCode
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
    def of(
        cls, violations: Iterable[FieldViolation], reason: ReasonCode = CommonReason.VALIDATION_FAILED
    ) -> InvalidArgument:
        """Build one error out of several field violations."""
        found = list(violations)
        summary = "; ".join(f"{v.field}: {v.description}" for v in found[:5])
        return cls(reason, f"invalid request: {summary}", found)

    @classmethod
    def field(cls, name: str, description: str, reason: ReasonCode) -> InvalidArgument:
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


@dataclass
class Unavailable(DomainError):
    """A dependency (database, cache, broker) is out of reach; the call may be retried."""

    code: grpc.StatusCode = field(default=grpc.StatusCode.UNAVAILABLE, init=False, repr=False)


def is_unavailable(error: BaseException) -> bool:
    """Whether an unexpected exception means a dependency is out of reach, not a bug of ours.

    Also when it was raised from such an error (``CacheUnavailable`` from a Valkey connection error).
    """
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DBAPIError):
            # A connection that died (SQLAlchemy then replaces the pool's connections), or one that
            # could not be made (the server restarting, refusing connections, gone).
            if cause.connection_invalidated or isinstance(cause, OperationalError | InterfaceError):
                return True
        elif isinstance(cause, _UNREACHABLE) or type(cause) is OSError:
            # A plain OSError is what asyncio raises when every address of a host refused.
            return True
        cause = cause.__cause__
    return False


def is_transaction_conflict(error: BaseException) -> bool:
    """Whether an unexpected exception is PostgreSQL rolling the transaction back for a concurrent one."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DBAPIError) and getattr(cause.orig, "sqlstate", None) in _CONFLICT_SQLSTATES:
            return True
        cause = cause.__cause__
    return False


def as_retryable(error: BaseException) -> DomainError | None:
    """The retryable error an unexpected exception stands for (an outage, a conflict), or None for a bug."""
    if is_unavailable(error):
        return Unavailable(CommonReason.DEPENDENCY_UNAVAILABLE, "a dependency was unavailable; retry")
    if is_transaction_conflict(error):
        return Conflict(CommonReason.TRANSACTION_CONFLICT, "a concurrent change got in the way; retry")
    return None
