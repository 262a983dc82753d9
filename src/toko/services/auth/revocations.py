"""The deny-list of revoked access tokens, in Valkey.

Access tokens are verified locally (signature and expiry) by the gateway and
every service, so revoking one cannot recall it; instead its ``jti`` goes into
Valkey under ``toko:auth:revoked:<jti>`` (value ``1``), expiring when the token
does. Introspection and userinfo consult it at once; any verifier that wants
immediate revocation checks the same key (one ``EXISTS``), the others honour a
revocation within the token's lifetime of at most 15 minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from redis.asyncio import Redis

REVOKED_PREFIX = "toko:auth:revoked:"


def revoked_key(jti: str) -> str:
    """The Valkey key marking access token ``jti`` revoked."""
    return f"{REVOKED_PREFIX}{jti}"


async def deny(valkey: Redis, tokens: Iterable[tuple[str, datetime]]) -> None:
    """Deny-list access tokens ``(jti, expires_at)`` until they expire anyway."""
    async with valkey.pipeline(transaction=False) as pipe:
        count = 0
        for jti, expires_at in tokens:
            pipe.set(revoked_key(jti), b"1", exat=int(expires_at.timestamp()) + 1)
            count += 1
        if count:
            await pipe.execute()


async def is_denied(valkey: Redis, jti: str) -> bool:
    """True when the access token was revoked."""
    return bool(await valkey.exists(revoked_key(jti)))
