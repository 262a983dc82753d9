"""The notification service's use cases, one transaction each.

Writing a notification happens in the consumer's unit of work, keyed by the event that asked for it,
so a redelivered event never makes a second email. Sending happens in ``deliver_due``, run by the
sender worker: each notification is claimed with ``FOR UPDATE SKIP LOCKED`` (replicas share the
queue), handed to the relay, and its outcome recorded with its NotificationSent or NotificationFailed
event in the same transaction. A process that dies after the relay took a message but before the
commit sends it again on restart with the same Message-ID, which mail systems deduplicate.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import event

from toko.notification.v1 import events_pb2
from toko.notification.v1 import notification_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import InvalidArgument, NotFound
from toko.platform.ids import is_id, new_id
from toko.platform.pagination import PageSpec, encode_token, id_after
from toko.services.notification import domain
from toko.services.notification.domain import Kind, Notification, Status
from toko.services.notification.error_codes import ErrorCode
from toko.services.notification.mailer import SmtpRelay
from toko.services.notification.mapping import KIND_TO_PROTO, notification_to_proto
from toko.services.notification.messages import Templates, email_message
from toko.services.notification.repository import Bodies, NotificationRepository

SOURCE = "notification"
ME = "me"
NOTIFICATIONS_PAGE = PageSpec(default=20, maximum=100)


@dataclass(frozen=True)
class Notifications:
    """What the use cases work with: the database, templates, the relay, the sender and a clock.

    ``wake`` is set when a transaction that wrote a notification commits, so the sender sends it at
    once instead of at its next poll.
    """

    database: Database
    relay: SmtpRelay
    sender: str
    templates: Templates = field(default_factory=Templates)
    retry: domain.RetryPolicy = field(default_factory=domain.RetryPolicy)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    clock: Clock = field(default=utcnow)


@dataclass(frozen=True)
class EmailRequest:
    """An event's request for an account email."""

    event_id: str
    kind: Kind
    user_id: str
    recipient: str
    language: str
    # What the template shows: the name, the link, when it expires, where a sign-in came from.
    context: Mapping[str, object]


async def request_email(*, notifications: Notifications, uow: UnitOfWork, request: EmailRequest) -> bool:
    """Write the email an event asks for, in the consumer's unit of work: False when written before."""
    language = domain.language_of(request.language)
    now = notifications.clock()
    rendered = notifications.templates.render(
        request.kind, language, {**request.context, "language": language}
    )
    notification = Notification(
        id=new_id(),
        event_id=request.event_id,
        user_id=request.user_id,
        kind=request.kind,
        recipient=request.recipient,
        language=language,
        subject=rendered.subject,
        created_at=now,
        next_attempt_at=now,
    )
    added = await NotificationRepository(uow.session).add(
        notification, Bodies(text=rendered.text, html=rendered.html)
    )
    if added:
        wake = notifications.wake
        event.listen(uow.session.sync_session, "after_commit", lambda _session: wake.set(), once=True)
    return added


async def deliver_due(*, notifications: Notifications, batch_size: int) -> int:
    """Attempt up to ``batch_size`` due notifications, one transaction each; how many were attempted."""
    attempted = 0
    while attempted < batch_size:
        async with notifications.database.unit_of_work(SOURCE) as uow:
            repository = NotificationRepository(uow.session)
            claimed = await repository.claim_due(notifications.clock())
            if claimed is None:
                break
            notification, bodies = claimed
            message = email_message(
                notification_id=notification.id,
                sender=notifications.sender,
                recipient=notification.recipient,
                language=notification.language,
                subject=notification.subject,
                text=bodies.text,
                html=bodies.html,
                now=notifications.clock(),
            )
            delivery = await notifications.relay.send(message)
            after = domain.after_attempt(
                notification,
                delivery.outcome,
                error=delivery.error,
                now=notifications.clock(),
                retry=notifications.retry,
            )
            await repository.record_attempt(after)
            _publish_outcome(uow, after)
            await uow.commit()
        attempted += 1
    return attempted


def _publish_outcome(uow: UnitOfWork, notification: Notification) -> None:
    kind = KIND_TO_PROTO[notification.kind]
    if notification.status is Status.SENT:
        uow.publish(
            events_pb2.NotificationSent(
                notification_id=notification.id,
                user_id=notification.user_id,
                kind=kind,
                channel=pb.CHANNEL_EMAIL,
                attempts=notification.attempts,
            ),
            subject=notification.id,
        )
    elif notification.status is Status.FAILED:
        uow.publish(
            events_pb2.NotificationFailed(
                notification_id=notification.id,
                user_id=notification.user_id,
                kind=kind,
                channel=pb.CHANNEL_EMAIL,
                attempts=notification.attempts,
                error=notification.last_error,
            ),
            subject=notification.id,
        )


async def seconds_until_due(*, notifications: Notifications) -> float | None:
    """Seconds until the next pending notification is due (0 when one is), or None without one."""
    async with notifications.database.single_reads() as session:
        due = await NotificationRepository(session).next_due()
    if due is None:
        return None
    return max((due - notifications.clock()).total_seconds(), 0.0)


async def list_notifications(
    *, notifications: Notifications, principal: Principal, user_id: str, page_size: int, page_token: str
) -> tuple[list[pb.Notification], str]:
    """An account's notifications, newest first: the caller's own (``me``), or anyone's for an admin."""
    target = _reachable_account(principal, user_id)
    limit = NOTIFICATIONS_PAGE.size(page_size)
    filters = [target]
    before = id_after(page_token, filters)
    async with notifications.database.single_reads() as session:
        found = await NotificationRepository(session).list_for_user(target, before_id=before, limit=limit + 1)
    page = found[:limit]
    next_token = encode_token([page[-1].id], filters) if len(found) > limit else ""
    return [notification_to_proto(item) for item in page], next_token


def _reachable_account(principal: Principal, user_id: str) -> str:
    target = principal.subject if user_id == ME else user_id
    if not is_id(target):
        raise InvalidArgument.field("user_id", "must be a UUID or 'me'", CommonReason.INVALID_ID)
    if target != principal.subject and not principal.is_admin:
        raise NotFound(ErrorCode.USER_NOT_FOUND, f"no user {target}")
    return target
