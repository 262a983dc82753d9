"""Account emails, from the user and auth services' events to the relay's mailbox, on the real servers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.js import JetStreamContext
from notification_testkit import Eventually, Relay, as_admin, as_user, failure
from sqlalchemy import text

from toko.auth.v1 import events_pb2 as auth_events
from toko.notification.v1 import notification_pb2 as pb
from toko.notification.v1.notification_pb2_grpc import NotificationServiceStub
from toko.platform.db import Database
from toko.platform.events import PendingEvent
from toko.sandbox.mail.mailbox import Message as MailMessage
from toko.user.v1 import events_pb2 as user_events

LATER = datetime.now(UTC) + timedelta(hours=24)


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


async def publish(
    js: JetStreamContext, source: str, user_id: str, message: Message, event_id: str = ""
) -> str:
    """Publish an event as its service's outbox relay does; the same ``event_id`` again is a redelivery."""
    event = PendingEvent(source=source, subject=user_id, message=message)
    if event_id:
        event = PendingEvent(source=source, subject=user_id, message=message, id=event_id)
    # A fresh Nats-Msg-Id each time, so JetStream's own deduplication does not hide a redelivery.
    await js.publish(
        event.nats_subject, event.envelope().SerializeToString(), headers={"Nats-Msg-Id": uuid.uuid4().hex}
    )
    return event.id


def verification(user_id: str, email: str, language: str = "id", name: str = "Budi") -> Message:
    return user_events.EmailVerificationRequested(
        user_id=user_id,
        email=email,
        verification_url=f"http://127.0.0.1:8080/account/verify-email?token=t-{user_id}",
        expire_time=stamp(LATER),
        language=language,
        name=name,
    )


async def mail_for(relay: Relay, eventually: Eventually, address: str, count: int = 1) -> list[MailMessage]:
    async def arrived() -> bool:
        return len(relay.mailbox.summaries(to=address)) >= count

    await eventually(arrived)
    return await relay.mailbox.messages(to=address)


async def notifications_of(stub: NotificationServiceStub, user_id: str) -> list[pb.Notification]:
    answer = await stub.ListNotifications(
        pb.ListNotificationsRequest(user_id="me"), metadata=as_user(user_id)
    )
    return list(answer.notifications)


async def test_a_verification_request_becomes_one_email_in_the_accounts_language(
    stub: NotificationServiceStub, jetstream: JetStreamContext, relay: Relay, eventually: Eventually
) -> None:
    user_id, address = str(uuid.uuid4()), f"budi-{uuid.uuid4().hex[:6]}@example.com"

    await publish(jetstream, "user", user_id, verification(user_id, address, name="Budi <b>Santoso</b>"))
    [mail] = await mail_for(relay, eventually, address)

    assert mail.summary.subject == "Verifikasi alamat email kamu di toko"
    assert f"http://127.0.0.1:8080/account/verify-email?token=t-{user_id}" in mail.contents.links
    assert "Halo Budi <b>Santoso</b>," in mail.contents.text
    assert "Budi &lt;b&gt;Santoso&lt;/b&gt;" in mail.contents.html
    [notification] = await notifications_of(stub, user_id)
    headers = dict(mail.contents.headers)
    assert headers["Message-ID"] == f"<{notification.id}@toko.test>"
    assert (notification.kind, notification.status, notification.attempts, notification.recipient) == (
        pb.NOTIFICATION_KIND_EMAIL_VERIFICATION,
        pb.NOTIFICATION_STATUS_SENT,
        1,
        address,
    )
    assert notification.HasField("send_time")


async def test_a_redelivered_event_sends_no_second_email(
    stub: NotificationServiceStub, jetstream: JetStreamContext, relay: Relay, eventually: Eventually
) -> None:
    user_id, address = str(uuid.uuid4()), f"sekali-{uuid.uuid4().hex[:6]}@example.com"
    event_id = await publish(jetstream, "user", user_id, verification(user_id, address))
    await mail_for(relay, eventually, address)

    await publish(jetstream, "user", user_id, verification(user_id, address), event_id=event_id)
    second = await publish(jetstream, "user", user_id, verification(user_id, address, language="en"))

    mails = await mail_for(relay, eventually, address, count=2)
    assert sorted(mail.summary.subject for mail in mails) == [
        "Verifikasi alamat email kamu di toko",
        "Verify your email address on toko",
    ]
    assert second != event_id
    assert len(await notifications_of(stub, user_id)) == 2


async def test_a_password_reset_and_a_new_sign_in_are_written_in_english_when_asked(
    stub: NotificationServiceStub, jetstream: JetStreamContext, relay: Relay, eventually: Eventually
) -> None:
    user_id, address = str(uuid.uuid4()), f"reset-{uuid.uuid4().hex[:6]}@example.com"
    reset = user_events.PasswordResetRequested(
        user_id=user_id,
        email=address,
        reset_url="http://127.0.0.1:8080/account/reset-password?token=r1",
        expire_time=stamp(LATER),
        language="en",
        name="Sari",
    )
    sign_in = auth_events.SignedInFromNewBrowser(
        user_id=user_id,
        email=address,
        language="en",
        client_id="storefront",
        client_name="toko storefront",
        ip_address="203.0.113.7",
        user_agent="Mozilla/5.0 <script>",
        sign_in_time=stamp(datetime(2026, 12, 3, 1, 5, tzinfo=UTC)),
    )

    await publish(jetstream, "user", user_id, reset)
    await publish(jetstream, "auth", user_id, sign_in)
    mails = {mail.summary.subject: mail for mail in await mail_for(relay, eventually, address, count=2)}

    assert (
        "http://127.0.0.1:8080/account/reset-password?token=r1"
        in mails["Reset your toko password"].contents.links
    )
    warning = mails["New sign-in to your toko account"].contents
    assert "3 December 2026, 08:05 WIB" in warning.text
    assert "203.0.113.7" in warning.text
    assert "Mozilla/5.0 &lt;script&gt;" in warning.html
    kinds = {notification.kind for notification in await notifications_of(stub, user_id)}
    assert kinds == {pb.NOTIFICATION_KIND_PASSWORD_RESET, pb.NOTIFICATION_KIND_NEW_SIGN_IN}


async def test_a_deferred_email_is_retried_until_the_relay_takes_it(
    stub: NotificationServiceStub, jetstream: JetStreamContext, relay: Relay, eventually: Eventually
) -> None:
    user_id, address = str(uuid.uuid4()), f"nanti-{uuid.uuid4().hex[:6]}@example.com"
    relay.faults.add(address, 451, times=2)

    await publish(jetstream, "user", user_id, verification(user_id, address))
    await mail_for(relay, eventually, address)

    [notification] = await notifications_of(stub, user_id)
    assert (notification.status, notification.attempts) == (pb.NOTIFICATION_STATUS_SENT, 3)
    assert notification.last_error.startswith("451 4.3.0")


async def test_a_bounced_email_is_recorded_failed_and_forgets_its_link(
    stub: NotificationServiceStub,
    jetstream: JetStreamContext,
    relay: Relay,
    eventually: Eventually,
    database: Database,
) -> None:
    user_id, address = str(uuid.uuid4()), f"tiada-{uuid.uuid4().hex[:6]}@example.com"
    relay.faults.add(address, 550, times=1)

    await publish(jetstream, "user", user_id, verification(user_id, address))

    async def failed() -> bool:
        found = await notifications_of(stub, user_id)
        return bool(found) and found[0].status == pb.NOTIFICATION_STATUS_FAILED

    await eventually(failed)
    [notification] = await notifications_of(stub, user_id)
    assert (notification.attempts, notification.last_error[:9]) == (1, "550 5.1.1")
    assert relay.mailbox.summaries(to=address) == []
    async with database.single_reads() as session:
        bodies = (
            await session.execute(
                text("SELECT text_body, html_body FROM notifications WHERE id = :id"), {"id": notification.id}
            )
        ).one()
    assert tuple(bodies) == (None, None)


async def test_only_the_owner_and_admins_see_an_accounts_notifications(
    stub: NotificationServiceStub, jetstream: JetStreamContext, relay: Relay, eventually: Eventually
) -> None:
    owner, address = str(uuid.uuid4()), f"pemilik-{uuid.uuid4().hex[:6]}@example.com"
    await publish(jetstream, "user", owner, verification(owner, address))
    await mail_for(relay, eventually, address)

    stranger = str(uuid.uuid4())
    code, reason, _ = await failure(
        stub.ListNotifications(pb.ListNotificationsRequest(user_id=owner), metadata=as_user(stranger))
    )
    as_admin_answer = await stub.ListNotifications(
        pb.ListNotificationsRequest(user_id=owner), metadata=as_admin()
    )

    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    assert [n.recipient for n in as_admin_answer.notifications] == [address]
    assert await notifications_of(stub, stranger) == []


async def test_listing_pages_newest_first_and_bad_pages_are_refused(
    stub: NotificationServiceStub, jetstream: JetStreamContext, relay: Relay, eventually: Eventually
) -> None:
    user_id, address = str(uuid.uuid4()), f"banyak-{uuid.uuid4().hex[:6]}@example.com"
    for _ in range(3):
        await publish(jetstream, "user", user_id, verification(user_id, address))
    await mail_for(relay, eventually, address, count=3)
    me = as_user(user_id)

    first = await stub.ListNotifications(pb.ListNotificationsRequest(user_id="me", page_size=2), metadata=me)
    rest = await stub.ListNotifications(
        pb.ListNotificationsRequest(user_id="me", page_size=2, page_token=first.next_page_token), metadata=me
    )
    ids = [n.id for n in [*first.notifications, *rest.notifications]]

    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 3
    assert rest.next_page_token == ""
    for request, reason in [
        (pb.ListNotificationsRequest(user_id="me", page_size=101), "PAGE_SIZE_OUT_OF_RANGE"),
        (pb.ListNotificationsRequest(user_id="me", page_token="bm90LWEtdG9rZW4"), "INVALID_PAGE_TOKEN"),
        (pb.ListNotificationsRequest(user_id="not-an-id"), "INVALID_ID"),
    ]:
        code, got, _ = await failure(stub.ListNotifications(request, metadata=me))
        assert (code, got) == (grpc.StatusCode.INVALID_ARGUMENT, reason)
