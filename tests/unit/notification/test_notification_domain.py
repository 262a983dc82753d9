"""The notification service's rules and messages, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest

from toko.services.notification.domain import (
    Kind,
    Notification,
    Outcome,
    RetryPolicy,
    Status,
    after_attempt,
    language_of,
    outcome_of_reply,
)
from toko.services.notification.messages import Templates, email_message, local_time

NOW = datetime(2026, 12, 3, 16, 20, tzinfo=UTC)
RETRY = RetryPolicy()


def pending(attempts: int = 0) -> Notification:
    return Notification(
        id="0190f1a0-0000-7000-8000-000000000001",
        event_id="event-1",
        user_id="user-1",
        kind=Kind.EMAIL_VERIFICATION,
        recipient="budi@example.com",
        language="id",
        subject="Verifikasi",
        created_at=NOW,
        attempts=attempts,
        next_attempt_at=NOW,
    )


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        (250, Outcome.ACCEPTED),
        (421, Outcome.TEMPORARY_FAILURE),
        (451, Outcome.TEMPORARY_FAILURE),
        (452, Outcome.TEMPORARY_FAILURE),
        (550, Outcome.PERMANENT_FAILURE),
        (554, Outcome.PERMANENT_FAILURE),
    ],
)
def test_a_relay_reply_decides_whether_to_retry(code: int, outcome: Outcome) -> None:
    assert outcome_of_reply(code) is outcome


def test_an_accepted_message_is_sent_and_waits_for_nothing() -> None:
    sent = after_attempt(pending(), Outcome.ACCEPTED, error="", now=NOW, retry=RETRY)

    assert (sent.status, sent.attempts, sent.sent_at, sent.next_attempt_at) == (Status.SENT, 1, NOW, None)


def test_a_deferred_message_is_retried_later_and_later_up_to_an_hour() -> None:
    waits = []
    notification = pending()
    for _ in range(8):
        notification = after_attempt(
            notification, Outcome.TEMPORARY_FAILURE, error="451 later", now=NOW, retry=RETRY
        )
        assert notification.status is Status.PENDING
        assert notification.next_attempt_at is not None
        waits.append(notification.next_attempt_at - NOW)

    minutes = [int(wait / timedelta(minutes=1)) for wait in waits]
    assert minutes == [1, 2, 4, 8, 16, 32, 60, 60]
    assert notification.last_error == "451 later"


def test_a_bounce_fails_at_once_and_the_last_deferral_fails_for_good() -> None:
    bounced = after_attempt(
        pending(), Outcome.PERMANENT_FAILURE, error="550 no such user", now=NOW, retry=RETRY
    )
    exhausted = after_attempt(
        pending(attempts=RETRY.max_attempts - 1), Outcome.TEMPORARY_FAILURE, error="451", now=NOW, retry=RETRY
    )

    assert (bounced.status, bounced.attempts, bounced.failed_at) == (Status.FAILED, 1, NOW)
    assert (exhausted.status, exhausted.attempts, exhausted.next_attempt_at) == (
        Status.FAILED,
        RETRY.max_attempts,
        None,
    )


def test_an_overlong_relay_reply_is_cut_to_fit() -> None:
    failed = after_attempt(pending(), Outcome.PERMANENT_FAILURE, error="5" * 5000, now=NOW, retry=RETRY)

    assert len(failed.last_error) == 300


@pytest.mark.parametrize(("asked", "written"), [("id", "id"), ("EN", "en"), ("fr", "id"), ("", "id")])
def test_an_email_is_written_in_the_accounts_language_or_in_indonesian(asked: str, written: str) -> None:
    assert language_of(asked) == written


def test_times_show_in_western_indonesian_time_in_either_language() -> None:
    assert local_time(NOW, "id") == "3 Desember 2026 23.20 WIB"
    assert local_time(NOW, "en") == "3 December 2026, 23:20 WIB"


def test_a_name_shows_as_written_in_html_and_the_link_is_never_mangled() -> None:
    link = "http://127.0.0.1:8080/account/verify-email?token=a&b=c"
    email = Templates().render(
        Kind.EMAIL_VERIFICATION,
        "en",
        {"name": "<b>Budi</b>", "link": link, "expires": "4 December 2026, 23:20 WIB", "language": "en"},
    )

    assert email.subject == "Verify your email address on toko"
    assert "Hi <b>Budi</b>," in email.text
    assert link in email.text
    assert "&lt;b&gt;Budi&lt;/b&gt;" in email.html
    assert "<b>Budi</b>" not in email.html
    assert 'href="http://127.0.0.1:8080/account/verify-email?token=a&amp;b=c"' in email.html


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", ["id", "en"])
def test_every_kind_of_email_exists_in_both_languages(kind: Kind, language: str) -> None:
    context = {
        "name": "Budi",
        "link": "http://x.test/l",
        "expires": "-",
        "when": "-",
        "client_name": "toko web",
        "ip_address": "203.0.113.9",
        "user_agent": "Firefox",
        "language": language,
    }

    email = Templates().render(kind, language, context)

    assert email.subject
    assert email.text.strip()
    assert "<html" in email.html


def test_the_mime_message_has_both_parts_and_an_id_derived_from_the_notification() -> None:
    message = email_message(
        notification_id="0190f1a0-0000-7000-8000-000000000001",
        sender="toko <no-reply@toko.test>",
        recipient="budi@example.com",
        language="id",
        subject="Verifikasi alamat email kamu di toko",
        text="Halo",
        html="<p>Halo</p>",
        now=NOW,
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)

    assert parsed["Message-ID"] == "<0190f1a0-0000-7000-8000-000000000001@toko.test>"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert [part.get_content_type() for part in parsed.iter_parts()] == ["text/plain", "text/html"]
