"""Revoking access tokens: an event for every verifier, and the deny-list in Valkey.

Access tokens are verified locally (signature and expiry) by the gateway and
every service, so revoking one cannot recall it. Two things tell the verifiers:

- ``AccessTokensRevoked``, raised through the outbox in the transaction that
  revokes the grant, so it is never lost; every verifier follows these events
  and keeps the ids in memory (``toko.platform.revocation``);
- the ``jti`` in Valkey under ``toko:auth:revoked:<jti>``, expiring when the
  token does, written once the transaction has committed: introspection,
  userinfo and the gateway's protected routes consult it at once.

Both say why (``RevocationCause``): the event in its ``cause``, the deny-list entry
as its value, the cause's name (``REVOCATION_CAUSE_ROLES_CHANGED``…; entries written
before causes were recorded hold ``1``). A client whose token ended because the
account's roles changed is told to refresh it rather than to sign in again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeAlias

from google.protobuf.timestamp_pb2 import Timestamp
from redis.asyncio import Redis

from toko.auth.v1.events_pb2 import AccessTokensRevoked, RevocationCause, RevokedAccessToken
from toko.platform.db import UnitOfWork

REVOKED_PREFIX = "toko:auth:revoked:"
# Keeps one event far below NATS's 1 MiB message limit however many tokens a grant had.
TOKENS_PER_EVENT = 1_000


def revoked_key(jti: str) -> str:
    """The Valkey key marking access token ``jti`` revoked."""
    return f"{REVOKED_PREFIX}{jti}"


# Why tokens were revoked (a ``RevocationCause`` value).
Cause: TypeAlias = RevocationCause.ValueType


async def deny(valkey: Redis, tokens: Iterable[tuple[str, datetime]], cause: Cause) -> None:
    """Deny-list access tokens ``(jti, expires_at)`` until they expire anyway, saying why."""
    reason = RevocationCause.Name(cause).encode()
    async with valkey.pipeline(transaction=False) as pipe:
        count = 0
        for jti, expires_at in tokens:
            pipe.set(revoked_key(jti), reason, exat=int(expires_at.timestamp()) + 1)
            count += 1
        if count:
            await pipe.execute()


async def is_denied(valkey: Redis, jti: str) -> bool:
    """True when the access token was revoked."""
    return bool(await valkey.exists(revoked_key(jti)))


def announce(uow: UnitOfWork, tokens: Sequence[tuple[str, datetime]], *, subject: str, cause: Cause) -> None:
    """Raise ``AccessTokensRevoked`` for ``(jti, expires_at)`` in the caller's transaction.

    ``subject`` is what was revoked (a user, a client, a grant's family).
    """
    for start in range(0, len(tokens), TOKENS_PER_EVENT):
        event = AccessTokensRevoked(cause=cause)
        for jti, expires_at in tokens[start : start + TOKENS_PER_EVENT]:
            expire_time = Timestamp()
            expire_time.FromDatetime(expires_at)
            event.tokens.append(RevokedAccessToken(jti=jti, expire_time=expire_time))
        uow.publish(event, subject=subject)
