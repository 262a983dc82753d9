"""Which unexpected errors are a dependency out of reach (UNAVAILABLE) rather than a bug (INTERNAL)."""

from __future__ import annotations

from redis.exceptions import ConnectionError as ValkeyConnectionError
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from toko.platform.cache import CacheUnavailable
from toko.platform.errors import is_unavailable


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
