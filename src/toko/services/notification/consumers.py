"""Event handlers of the notification service, each run by an ``EventConsumer``.

The user service asks for the address-verification and password-reset emails
(``EmailVerificationRequested``, ``PasswordResetRequested``), the auth service
for the new-browser warning (``SignedInFromNewBrowser``). Each event writes one
notification keyed by the event's id, so a redelivered event changes nothing;
the sender worker delivers it.
"""

from __future__ import annotations

from datetime import UTC as _UTC

from google.protobuf.message import Message

from toko.auth.v1 import events_pb2 as auth_events
from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.db import UnitOfWork
from toko.platform.events import event_subject
from toko.services.notification.domain import Kind, language_of
from toko.services.notification.handlers import EmailRequest, Notifications, request_email
from toko.services.notification.messages import local_time
from toko.user.v1 import events_pb2 as user_events

USER_SOURCE = "user"
AUTH_SOURCE = "auth"

ACCOUNT_EMAILS_CONSUMER = "notification-account-emails"
ACCOUNT_EMAILS_SUBJECTS = tuple(
    event_subject(USER_SOURCE, message.DESCRIPTOR.name)
    for message in (user_events.EmailVerificationRequested, user_events.PasswordResetRequested)
)
SIGN_IN_WARNINGS_CONSUMER = "notification-sign-in-warnings"
SIGN_IN_WARNINGS_SUBJECTS = (event_subject(AUTH_SOURCE, auth_events.SignedInFromNewBrowser.DESCRIPTOR.name),)


class AccountEmails:
    """Writes the email each account event asks for."""

    def __init__(self, notifications: Notifications) -> None:
        self._notifications = notifications

    async def __call__(self, uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        """Write the event's email in the consumer's unit of work; other events are not ours."""
        request = email_request(envelope.id, payload)
        if request is not None:
            await request_email(notifications=self._notifications, uow=uow, request=request)


def email_request(event_id: str, payload: Message) -> EmailRequest | None:
    """The email an account event asks for, or None for an event that asks for none."""
    match payload:
        case user_events.EmailVerificationRequested():
            language = language_of(payload.language)
            return EmailRequest(
                event_id=event_id,
                kind=Kind.EMAIL_VERIFICATION,
                user_id=payload.user_id,
                recipient=payload.email,
                language=language,
                context={
                    "name": payload.name or payload.email,
                    "link": payload.verification_url,
                    "expires": local_time(payload.expire_time.ToDatetime(tzinfo=_UTC), language),
                },
            )
        case user_events.PasswordResetRequested():
            language = language_of(payload.language)
            return EmailRequest(
                event_id=event_id,
                kind=Kind.PASSWORD_RESET,
                user_id=payload.user_id,
                recipient=payload.email,
                language=language,
                context={
                    "name": payload.name or payload.email,
                    "link": payload.reset_url,
                    "expires": local_time(payload.expire_time.ToDatetime(tzinfo=_UTC), language),
                },
            )
        case auth_events.SignedInFromNewBrowser():
            language = language_of(payload.language)
            return EmailRequest(
                event_id=event_id,
                kind=Kind.NEW_SIGN_IN,
                user_id=payload.user_id,
                recipient=payload.email,
                language=language,
                context={
                    "when": local_time(payload.sign_in_time.ToDatetime(tzinfo=_UTC), language),
                    "client_name": payload.client_name or payload.client_id,
                    "ip_address": payload.ip_address or "-",
                    "user_agent": payload.user_agent or "-",
                },
            )
    return None
