"""Event handlers of the auth service (run by ``toko.platform.consumer.EventConsumer``).

When a user's password changes or the account is deleted, every grant the user
holds ends: refresh tokens are revoked, access tokens still valid are
deny-listed, and the user's login sessions end. When a user's roles or shop
change (a shop opened, closed or transferred, staff added or removed, a role
granted or revoked), the access tokens still valid are deny-listed, so no token
keeps roles the user no longer has; the next refresh carries the new ones.
"""

from __future__ import annotations

from google.protobuf.message import Message

from toko.auth.v1.events_pb2 import RevocationCause
from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.services.auth.handlers import Provider
from toko.services.auth.handlers.tokens import end_user_access_tokens, revoke_user_tokens
from toko.services.auth.http.security import Sessions
from toko.user.v1 import events_pb2

USER_EVENTS_CONSUMER = "auth-user-events"
USER_EVENTS_SOURCE = "user"
USER_EVENTS_SUBJECTS = (
    event_subject(USER_EVENTS_SOURCE, events_pb2.PasswordChanged.DESCRIPTOR.name),
    event_subject(USER_EVENTS_SOURCE, events_pb2.UserDeleted.DESCRIPTOR.name),
    event_subject(USER_EVENTS_SOURCE, events_pb2.UserRolesChanged.DESCRIPTOR.name),
)


class UserEvents:
    """Ends a user's grants and sessions when the password changes or the account is deleted, and the
    user's access tokens when the roles change."""

    def __init__(self, provider: Provider, sessions: Sessions) -> None:
        self._provider = provider
        self._sessions = sessions

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Revoke in the consumer's transaction; with Valkey down the event is held until it is back."""
        if isinstance(payload, events_pb2.UserRolesChanged):
            await end_user_access_tokens(provider=self._provider, uow=uow, user_id=payload.user_id)
            return
        if isinstance(payload, events_pb2.PasswordChanged):
            cause = RevocationCause.REVOCATION_CAUSE_PASSWORD_CHANGED
        elif isinstance(payload, events_pb2.UserDeleted):
            cause = RevocationCause.REVOCATION_CAUSE_ACCOUNT_DELETED
        else:
            return
        await revoke_user_tokens(provider=self._provider, uow=uow, user_id=payload.user_id, cause=cause)
        await self._sessions.end_all(payload.user_id)
