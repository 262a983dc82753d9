"""Which unexpected errors are retryable (UNAVAILABLE, a conflict: ABORTED) rather than a bug (INTERNAL)."""

from __future__ import annotations

from redis.exceptions import ConnectionError as ValkeyConnectionError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from toko.platform.cache import CacheUnavailable
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    as_retryable,
    is_transaction_conflict,
    is_unavailable,
)


class PostgresError(Exception):
    """What asyncpg raises: an error carrying the server's SQLSTATE."""

    def __init__(self, message: str, sqlstate: str) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


def test_lost_or_refused_connections_are_unavailable() -> None:
    assert is_unavailable(ConnectionRefusedError(111, "Connection refused"))
    assert is_unavailable(OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432, 0, 0)"))
    assert is_unavailable(ValkeyConnectionError("Error 111 connecting to 127.0.0.1:16379"))
    assert is_unavailable(OperationalError("SELECT 1", {}, Exception("the database system is starting up")))
    invalidated = DBAPIError("SELECT 1", {}, Exception("connection was closed"), connection_invalidated=True)
    assert is_unavailable(invalidated)
    wrapped = CacheUnavailable("cannot invalidate 1 cache key(s)")
    wrapped.__cause__ = ValkeyConnectionError("Connection refused")  # raise ... from ...
    assert is_unavailable(wrapped)


def test_bugs_and_constraint_violations_are_not() -> None:
    assert not is_unavailable(ValueError("bad"))
    assert not is_unavailable(KeyError("missing"))
    assert not is_unavailable(FileNotFoundError(2, "No such file or directory"))
    assert not is_unavailable(IntegrityError("INSERT", {}, Exception("duplicate key value")))


def test_a_deadlock_or_serialization_failure_is_a_retryable_conflict() -> None:
    deadlock = DBAPIError("DELETE …", {}, PostgresError("deadlock detected", "40P01"))
    serialization = DBAPIError("UPDATE …", {}, PostgresError("could not serialize access", "40001"))
    duplicate = IntegrityError("INSERT …", {}, PostgresError("duplicate key value", "23505"))

    assert is_transaction_conflict(deadlock)
    assert is_transaction_conflict(serialization)
    assert not is_transaction_conflict(duplicate)
    conflict = as_retryable(deadlock)
    assert conflict is not None
    assert (conflict.code.name, conflict.reason) == ("ABORTED", CommonReason.TRANSACTION_CONFLICT)
    outage = as_retryable(ConnectionRefusedError(111, "Connection refused"))
    assert outage is not None
    assert (outage.code.name, outage.reason) == ("UNAVAILABLE", CommonReason.DEPENDENCY_UNAVAILABLE)
    assert as_retryable(duplicate) is None
    assert as_retryable(ValueError("bad")) is None
