"""Durable JetStream consumers that process each event exactly once in effect.

JetStream delivers at least once. ``EventConsumer`` makes the effect happen
once: in one unit of work it records the event id in the ``inbox`` table and
runs the handler, then commits and acks. A redelivered (or re-published) event
finds its id already in the inbox and is acked without running the handler.

A handler that raises is retried with exponential backoff (``nak`` with a
delay); after ``max_attempts`` deliveries the original envelope goes to the
dead-letter subject ``toko.dlq.<consumer>`` with the error in its headers, and
the message is terminated. Envelopes that cannot be decoded go there at once.
A dependency out of reach (``toko.platform.errors.is_unavailable``: PostgreSQL
restarting, Valkey away) is not the event's fault: the event is held and
processed once the dependency is back, never dead-lettered for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import nats.errors
from google.protobuf import descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message
from nats.js import api
from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert

from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.context import TraceContext, trace_var
from toko.platform.errors import is_unavailable
from toko.platform.events import DEAD_LETTER_PREFIX
from toko.platform.schema import inbox
from toko.platform.workers import unless_stopped, wait_any

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from toko.platform.db import Database, UnitOfWork

__all__ = [
    "ERROR_HEADER",
    "ERROR_TYPE_HEADER",
    "ORIGINAL_SUBJECT_HEADER",
    "EventConsumer",
    "EventHandler",
    "PoisonEvent",
    "unpack_payload",
]

log = logging.getLogger(__name__)

EventHandler = Callable[["UnitOfWork", EventEnvelope, Message], Awaitable[None]]
"""Handles one event in the consumer's unit of work; raising retries it. Must not commit."""

ERROR_HEADER = "Toko-Error"
ERROR_TYPE_HEADER = "Toko-Error-Type"
ORIGINAL_SUBJECT_HEADER = "Toko-Original-Subject"
ORIGINAL_STREAM_HEADER = "Toko-Original-Stream"
ORIGINAL_SEQUENCE_HEADER = "Toko-Original-Sequence"
DELIVERIES_HEADER = "Toko-Deliveries"

# Durable names become NATS subject tokens and API subjects, where dots and wildcards have meaning.
_CONSUMER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_HEADER_UNSAFE = re.compile(r"[\r\n]+")


class PoisonEvent(Exception):
    """An event that can never be handled (undecodable envelope, unknown payload type)."""


def unpack_payload(envelope: EventEnvelope) -> Message:
    """The envelope's payload as an instance of its own message class (which must be imported)."""
    type_name = envelope.payload.TypeName()
    try:
        descriptor = descriptor_pool.Default().FindMessageTypeByName(type_name)
    except KeyError as exc:
        raise PoisonEvent(f"unknown event type {type_name!r}; is its _pb2 module imported?") from exc
    payload = message_factory.GetMessageClass(descriptor)()
    if not envelope.payload.Unpack(payload):
        raise PoisonEvent(f"payload does not unpack as {type_name}")
    return payload


class EventConsumer:
    """A durable pull consumer whose handler runs once per event, in a transaction."""

    def __init__(
        self,
        *,
        name: str,
        stream: str,
        subjects: Sequence[str],
        database: Database,
        nats: NATS,
        handler: EventHandler,
        service: str,
        max_attempts: int = 5,
        backoff: float = 0.5,
        max_backoff: float = 60.0,
        ack_wait: float = 30.0,
        batch_size: int = 32,
        # A fetch waits this long for an event and returns as soon as one comes; the stop event ends it
        # at once. A short wait only costs wake-ups: a fetch a second per consumer on an idle platform.
        fetch_timeout: float = 30.0,
        inbox_retention: timedelta = timedelta(days=14),
        max_hold: timedelta = timedelta(hours=1),
    ) -> None:
        """Consume ``subjects`` of ``stream`` as durable ``name``; ``service`` raises the handler's events.

        ``inbox_retention`` must outlast the stream's ``max_age``: an event can only
        be redelivered while the stream holds it, and its inbox row must still exist then.
        ``max_hold`` bounds how long one event is held through a dependency's outage.
        """
        if not _CONSUMER_NAME.match(name):
            raise ValueError(f"invalid consumer name {name!r}: lowercase letters, digits, '-' and '_'")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.name = name
        self.stream = stream
        self.subjects = tuple(subjects)
        self.service = service
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.ack_wait = ack_wait
        self.batch_size = batch_size
        self.fetch_timeout = fetch_timeout
        self.inbox_retention = inbox_retention
        self.max_hold = max_hold
        self.dead_letter_subject = f"{DEAD_LETTER_PREFIX}.{name}"
        self._database = database
        self._handler = handler
        self._js: JetStreamContext = nats.jetstream()
        self._stop = asyncio.Event()  # run()'s, once running

    def consumer_config(self) -> api.ConsumerConfig:
        """The durable consumer's JetStream configuration."""
        return api.ConsumerConfig(
            name=self.name,
            durable_name=self.name,
            description=f"{self.service}: {', '.join(self.subjects)}",
            filter_subjects=list(self.subjects),
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.EXPLICIT,
            # Long enough for a slow handler; a consumer that dies mid-event gets it back after this.
            ack_wait=self.ack_wait,
            # A little room above our own limit: deliveries lost to a crash or an ack_wait expiry count
            # too, and the last attempts must still reach the dead-letter path.
            max_deliver=self.max_attempts + 2,
            max_ack_pending=max(self.batch_size * 4, 256),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle events until ``stop`` is set."""
        self._stop = stop
        # Creating an existing durable consumer updates its configuration.
        await self._js.add_consumer(self.stream, config=self.consumer_config())
        subscription = await self._js.pull_subscribe_bind(durable=self.name, stream=self.stream)
        next_purge = time.monotonic()
        failures = 0
        try:
            while not stop.is_set():
                try:
                    fetched, found = await unless_stopped(
                        stop, subscription.fetch(self.batch_size, timeout=self.fetch_timeout)
                    )
                    if not fetched:
                        break
                    messages = found or []
                except (nats.errors.TimeoutError, TimeoutError):
                    # No event in time; nats-py raises either kind depending on where it waited.
                    messages = []
                except Exception:
                    failures += 1
                    delay = min(self.backoff * 2**failures, self.max_backoff)
                    log.warning("fetching events failed", extra={"consumer": self.name}, exc_info=True)
                    await wait_any(stop, seconds=delay)
                    continue
                failures = 0
                for message in messages:
                    try:
                        await self.handle(message)
                    except Exception:
                        # Acking or naking failed (NATS gone?): the server redelivers after ack_wait.
                        log.warning("event left unacknowledged", extra={"consumer": self.name}, exc_info=True)
                if time.monotonic() >= next_purge:
                    await self._purge_inbox()
                    next_purge = time.monotonic() + 3600.0
        finally:
            await subscription.unsubscribe()

    async def handle(self, message: Msg) -> None:
        """Process one delivered message: handle it once, retry it later, or dead-letter it."""
        try:
            envelope = EventEnvelope.FromString(message.data)
            payload = unpack_payload(envelope)
        except (DecodeError, PoisonEvent) as exc:
            await self._dead_letter(message, exc)
            return
        trace = trace_var.set(TraceContext.parse(envelope.traceparent, envelope.tracestate))
        try:
            if not await self._process_riding_out_outages(message, envelope, payload):
                return  # stopping while a dependency is away: left unacknowledged, redelivered later
        except Exception as exc:
            await self._retry_or_dead_letter(message, exc)
            return
        finally:
            trace_var.reset(trace)
        await message.ack()

    async def _process_riding_out_outages(
        self, message: Msg, envelope: EventEnvelope, payload: Message
    ) -> bool:
        """Process the event; while a dependency is out of reach, hold it and try again.

        An outage (PostgreSQL restarting, Valkey away) is not the event's fault: counted as failed
        attempts it would send every event in flight to the dead letters, and past JetStream's
        ``max_deliver`` stop its deliveries. So the event is kept (``in_progress`` restarts its
        ``ack_wait``) and processed once the dependency is back. False if asked to stop meanwhile.
        """
        wait = self.backoff
        give_up = time.monotonic() + self.max_hold.total_seconds()
        while True:
            try:
                await self._process(envelope, payload)
            except Exception as error:
                # Past max_hold the outage is treated as a failure like any other, so that an error
                # taken for an outage cannot stall the consumer for good.
                if not is_unavailable(error) or time.monotonic() > give_up:
                    raise
                log.warning(
                    "a dependency is unavailable; holding the event",
                    extra={"consumer": self.name, "retry_in": wait},
                    exc_info=error,
                )
                await message.in_progress()
                await wait_any(self._stop, seconds=wait)
                if self._stop.is_set():
                    return False
                wait = min(wait * 2, self.max_backoff)
            else:
                return True

    async def _process(self, envelope: EventEnvelope, payload: Message) -> None:
        async with self._database.unit_of_work(self.service) as uow:
            # A concurrent delivery of the same event blocks on this row until we commit, then skips.
            first_time = await uow.session.execute(
                insert(inbox)
                .values(consumer=self.name, event_id=envelope.id)
                .on_conflict_do_nothing()
                .returning(inbox.c.event_id)
            )
            if first_time.first() is None:
                log.debug("event already processed", extra={"consumer": self.name, "event_id": envelope.id})
                return
            await self._handler(uow, envelope, payload)
            await uow.commit()

    async def _retry_or_dead_letter(self, message: Msg, error: Exception) -> None:
        delivered = message.metadata.num_delivered
        if delivered >= self.max_attempts:
            await self._dead_letter(message, error)
            return
        delay = min(self.backoff * 2 ** (delivered - 1), self.max_backoff)
        log.warning(
            "event handler failed; will retry",
            extra={"consumer": self.name, "attempt": delivered, "retry_in": delay},
            exc_info=error,
        )
        await message.nak(delay=delay)

    async def _dead_letter(self, message: Msg, error: Exception) -> None:
        metadata = message.metadata
        headers = {
            ERROR_HEADER: _header_value(str(error) or type(error).__name__),
            ERROR_TYPE_HEADER: f"{type(error).__module__}.{type(error).__qualname__}",
            ORIGINAL_SUBJECT_HEADER: message.subject,
            ORIGINAL_STREAM_HEADER: metadata.stream,
            ORIGINAL_SEQUENCE_HEADER: str(metadata.sequence.stream),
            DELIVERIES_HEADER: str(metadata.num_delivered),
            # Dead-lettering twice (we crashed before term) stores one copy.
            "Nats-Msg-Id": f"{self.name}:{metadata.stream}:{metadata.sequence.stream}",
        }
        try:
            await self._js.publish(self.dead_letter_subject, message.data, headers=headers)
        except Exception:
            log.exception("cannot dead-letter event; will retry", extra={"consumer": self.name})
            await message.nak(delay=self.max_backoff)
            return
        log.error(
            "event dead-lettered",
            extra={"consumer": self.name, "subject": message.subject, "error": headers[ERROR_HEADER]},
            exc_info=error,
        )
        await message.term()

    async def _purge_inbox(self) -> None:
        try:
            async with self._database.sessions() as session, session.begin():
                await session.execute(
                    delete(inbox).where(
                        inbox.c.consumer == self.name,
                        inbox.c.processed_at < datetime.now(UTC) - self.inbox_retention,
                    )
                )
        except Exception:
            log.warning("purging the inbox failed", extra={"consumer": self.name}, exc_info=True)


def _header_value(text: str) -> str:
    # NATS headers are single-line; keep the first part of a long message.
    return _HEADER_UNSAFE.sub(" | ", text)[:2000]
