"""What the provider's use cases share: their dependencies, the protocol error, admin checks, revocation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from redis.asyncio import Redis

from toko.auth.v1.events_pb2 import RevocationCause
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import PermissionDenied
from toko.services.auth.accounts import Accounts
from toko.services.auth.keys import KeyRing
from toko.services.auth.revocations import Cause, announce, deny

SOURCE = "auth"


@dataclass(frozen=True)
class Lifetimes:
    """How long what the provider issues lives."""

    access_token: timedelta = timedelta(minutes=15)
    id_token: timedelta = timedelta(minutes=15)
    refresh_token: timedelta = timedelta(days=30)
    authorization_code: timedelta = timedelta(seconds=60)


@dataclass(frozen=True)
class Provider:
    """What the use cases work with."""

    database: Database
    keys: KeyRing
    accounts: Accounts
    valkey: Redis
    issuer: str
    lifetimes: Lifetimes = field(default_factory=Lifetimes)
    clock: Clock = field(default=utcnow)


class OAuthError(Exception):
    """A protocol error (RFC 6749 §4.1.2.1, §5.2): ``error`` code, description, HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def as_response(self) -> dict[str, str]:
        """The JSON body of the error."""
        return {"error": self.error, "error_description": self.description}


def require_admin(principal: Principal) -> None:
    """Refuse callers who are not admins (the admin API)."""
    if not principal.is_admin:
        raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins manage OAuth clients")


async def commit_revocation(
    provider: Provider,
    uow: UnitOfWork,
    live: list[tuple[str, datetime]],
    *,
    subject: str,
    cause: Cause = RevocationCause.REVOCATION_CAUSE_GRANT_REVOKED,
) -> None:
    """Commit a revocation with its event, then deny-list the tokens in Valkey at once; ``cause`` says
    why (a grant revoked: signed out, a code replayed, a refresh token reused, a client deleted).

    The event is the durable record: were Valkey unreachable or this process killed before the
    deny-list is written, every verifier still learns of the revocation from the event.
    """
    announce(uow, live, subject=subject, cause=cause)
    await uow.commit()
    await deny(provider.valkey, live, cause)
