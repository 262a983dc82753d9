"""The notification service's domain: a notification, its delivery states and the retry rule.

Pure Python: no database, transport or proto imports (an import-linter contract keeps it so).

A notification is written once per event that asks for it (the event id is its key), pending, with
its subject and bodies rendered in the account's language. Each delivery attempt ends it sent, or
failed for good (a permanent refusal, or the last attempt), or pending again later: a temporary
failure waits ``RetryPolicy.delay(attempts)``, doubling from a minute to an hour, for at most
12 attempts (about eight hours), as a mail relay retries a deferred message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

# The platform's languages; anything else is written in the marketplace's own, Indonesian.
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"
LAST_ERROR_MAX_LENGTH = 300


class Kind(enum.StrEnum):
    """What a notification is about (stored by these values)."""

    EMAIL_VERIFICATION = "email_verification"
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of email, not a secret
    NEW_SIGN_IN = "new_sign_in"


class Status(enum.StrEnum):
    """Where a notification is on its way (stored by these values)."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class Outcome(enum.Enum):
    """How one delivery attempt ended."""

    ACCEPTED = "accepted"
    TEMPORARY_FAILURE = "temporary"
    PERMANENT_FAILURE = "permanent"


@dataclass(frozen=True)
class Notification:
    """One email to one person, and how its delivery went."""

    id: str
    event_id: str
    user_id: str
    kind: Kind
    recipient: str
    language: str
    subject: str
    created_at: datetime
    status: Status = Status.PENDING
    attempts: int = 0
    last_error: str = ""
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    failed_at: datetime | None = None


def language_of(requested: str) -> str:
    """The language to write in: the account's when toko speaks it, Indonesian otherwise."""
    language = requested.strip().lower()
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long a temporarily refused notification is tried again."""

    first_delay: timedelta = timedelta(minutes=1)
    longest_delay: timedelta = timedelta(hours=1)
    max_attempts: int = 12

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th attempt was deferred: doubling, up to ``longest_delay``."""
        doubled: timedelta = self.first_delay * 2 ** max(attempts - 1, 0)
        return min(doubled, self.longest_delay)


def outcome_of_reply(code: int) -> Outcome:
    """What an SMTP reply code means for the message (RFC 5321 §4.2.1): 2xx taken, 4xx later, 5xx never."""
    if 200 <= code < 300:
        return Outcome.ACCEPTED
    if 500 <= code < 600:
        return Outcome.PERMANENT_FAILURE
    return Outcome.TEMPORARY_FAILURE


def after_attempt(
    notification: Notification, outcome: Outcome, *, error: str, now: datetime, retry: RetryPolicy
) -> Notification:
    """The notification after one more attempt ended with ``outcome`` (``error`` says why it failed)."""
    attempts = notification.attempts + 1
    if outcome is Outcome.ACCEPTED:
        return replace(notification, status=Status.SENT, attempts=attempts, sent_at=now, next_attempt_at=None)
    error = error[:LAST_ERROR_MAX_LENGTH]
    if outcome is Outcome.PERMANENT_FAILURE or attempts >= retry.max_attempts:
        return replace(
            notification,
            status=Status.FAILED,
            attempts=attempts,
            last_error=error,
            failed_at=now,
            next_attempt_at=None,
        )
    return replace(
        notification, attempts=attempts, last_error=error, next_attempt_at=now + retry.delay(attempts)
    )
