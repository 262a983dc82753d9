"""Idempotency keys for retried writes: the first response is stored and replayed.

A use case that accepts an idempotency key wraps its work, inside its unit of work::

    async with uow:
        async with idempotent(uow.session, operation=OP, caller=subject, key=key, command=cmd) as replay:
            if replay.stored is not None:
                return Reply.FromString(replay.stored)
            replay.response = ...  # the actual work
        await uow.commit()

Keys are scoped to the caller, so two callers never share one. The response is stored
in the use case's transaction, so it exists exactly when the write does. Two concurrent
requests with one key are serialized by a transaction-scoped advisory lock: the second
waits for the first to commit, then replays its response. A key reused for a different
request (another ``command``) is refused with ``IDEMPOTENCY_KEY_REUSED``, which the gateway answers
422 as the IETF Idempotency-Key draft says; ``IDEMPOTENCY_KEY_IN_USE`` (a first request still running
an operation too long to hold a transaction over, such as a checkout saga) is answered 409.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from google.protobuf.message import Message
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.error_codes import CommonReason
from toko.platform.errors import Conflict, FailedPrecondition
from toko.platform.schema import idempotency_keys

__all__ = ["Replay", "idempotent", "purge_idempotency_keys", "remember", "replay_or_none", "request_hash"]

# hashtextextended() gives the 64-bit advisory lock id; a collision between two keys only serializes them.
_LOCK = text("SELECT pg_advisory_xact_lock(hashtextextended(:operation || chr(31) || :key, 0))")


def request_hash(request: object) -> str:
    """A stable digest of a request, to tell a genuine retry from a reused key.

    A message is digested in its deterministic wire form; anything else (a command dataclass, a tuple
    of the fields that matter) as canonical JSON.
    """
    if isinstance(request, bytes):
        data = request
    elif isinstance(request, Message):
        data = request.SerializeToString(deterministic=True)
    else:
        data = orjson.dumps(request, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest()


@dataclass
class Replay:
    """An idempotent write in progress: the answer stored by an earlier try, or the answer to store."""

    stored: bytes | None = None
    response: Message | None = None


@contextlib.asynccontextmanager
async def idempotent(
    session: AsyncSession, *, operation: str, caller: str, key: str, command: object
) -> AsyncIterator[Replay]:
    """Replay the answer stored for ``caller``'s ``key``, or store the one the block sets.

    Without a key nothing is looked up or stored. A block that raises stores nothing.
    """
    replay = Replay()
    scoped = f"{caller}:{key}" if key else ""
    digest = request_hash(command) if key else ""
    if scoped:
        replay.stored = await replay_or_none(session, operation=operation, key=scoped, request_hash=digest)
    yield replay
    if scoped and replay.stored is None and replay.response is not None:
        await remember(
            session,
            operation=operation,
            key=scoped,
            request_hash=digest,
            response=replay.response.SerializeToString(),
        )


async def replay_or_none(
    session: AsyncSession, *, operation: str, key: str, request_hash: str
) -> bytes | None:
    """The stored response for ``key``, or None when this is the first request with it.

    Raises ``FailedPrecondition`` (reason ``IDEMPOTENCY_KEY_REUSED``) when the key was
    used for a different request: retrying cannot help, so it is not a ``Conflict``.
    """
    await session.execute(_LOCK, {"operation": operation, "key": key})
    row = (
        await session.execute(
            select(idempotency_keys.c.request_hash, idempotency_keys.c.response).where(
                idempotency_keys.c.operation == operation, idempotency_keys.c.key == key
            )
        )
    ).one_or_none()
    if row is None:
        return None
    if row.request_hash != request_hash:
        raise FailedPrecondition(
            CommonReason.IDEMPOTENCY_KEY_REUSED,
            "this idempotency key was already used for a different request",
            metadata={"operation": operation},
        )
    return bytes(row.response)


async def remember(
    session: AsyncSession, *, operation: str, key: str, request_hash: str, response: bytes
) -> None:
    """Store the response for ``key`` in the current transaction, to replay it on a retry."""
    inserted = await session.execute(
        insert(idempotency_keys)
        .values(operation=operation, key=key, request_hash=request_hash, response=response)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.key)
    )
    if inserted.first() is None:
        # Only reachable without a preceding replay_or_none (which holds the key's lock): fail the
        # whole transaction rather than let two writes share one key.
        raise Conflict(
            CommonReason.IDEMPOTENCY_KEY_IN_USE, "a request with this idempotency key is being processed"
        )


async def purge_idempotency_keys(session: AsyncSession, *, older_than: timedelta) -> int:
    """Delete keys stored more than ``older_than`` ago; returns how many were deleted."""
    result = await session.execute(
        delete(idempotency_keys).where(idempotency_keys.c.created_at < datetime.now(UTC) - older_than)
    )
    return int(getattr(result, "rowcount", 0))
