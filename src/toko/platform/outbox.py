"""The transactional outbox and its relay to NATS JetStream.

A use case's events are inserted into the ``outbox`` table in the use case's own
transaction (``toko.platform.db.stage_events``, called by ``UnitOfWork.commit``), so an event
exists exactly when the change that raised it does. ``OutboxRelay`` then
publishes unsent rows to JetStream and marks them sent.

Delivery is at least once: a relay that dies after publishing and before
marking publishes the rows again on restart, and JetStream drops the repeat
because the ``Nats-Msg-Id`` header is the event id (within the stream's
duplicate window). Replicas of a relay claim disjoint batches with
``FOR UPDATE SKIP LOCKED``. Order is best effort (creation order per batch);
consumers must not rely on a global order.

The relay wakes on ``NOTIFY toko_outbox`` (sent by the commit) through a LISTEN
connection of its own, made again whenever PostgreSQL drops it (a restart, a
failover), and polls every ``poll_interval`` as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from nats.js import api
from nats.js.errors import NotFoundError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from toko.platform.db import NOTIFY_CHANNEL
from toko.platform.events import DEAD_LETTER_PREFIX, SUBJECT_PREFIX, stream_name
from toko.platform.schema import outbox
from toko.platform.workers import wait_any

if TYPE_CHECKING:
    from nats.aio.client import Client as NATS
    from nats.js.client import JetStreamContext

    from toko.platform.db import Database

__all__ = ["DEAD_LETTER_STREAM", "OutboxRelay", "ensure_streams"]

log = logging.getLogger(__name__)

# After a failed round (a dropped connection, NATS away), the wait doubles from this up to max_backoff.
FIRST_RETRY_SECONDS = 0.25
DEAD_LETTER_STREAM = "TOKO_DLQ"
MSG_ID_HEADER = "Nats-Msg-Id"


class _Claimed(NamedTuple):
    """An outbox row claimed for publishing."""

    id: str
    subject: str
    envelope: bytes


class OutboxRelay:
    """Publishes a service's committed outbox rows to JetStream and marks them sent."""

    def __init__(
        self,
        database: Database,
        nats: NATS,
        *,
        source: str,
        batch_size: int = 256,
        # A safety net only: the relay wakes on NOTIFY, and LISTENs again at once when its connection
        # drops. Polling every second cost four services a query a second each on an idle platform.
        poll_interval: float = 30.0,
        publish_timeout: float = 5.0,
        max_backoff: float = 30.0,
        retention: timedelta = timedelta(hours=24),
        purge_interval: float = 600.0,
    ) -> None:
        self._database = database
        self._js: JetStreamContext = nats.jetstream()
        self.source = source
        self.stream = stream_name(source)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.max_backoff = max_backoff
        self.retention = retention
        self.purge_interval = purge_interval

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set: on every NOTIFY, and every ``poll_interval`` as a safety net."""
        wake = asyncio.Event()
        listener = _Listener(self._database, wake)
        backoff = 0.0
        next_purge = time.monotonic()
        try:
            while not stop.is_set():
                # LISTEN again if PostgreSQL dropped the connection (a restart, a failover).
                await listener.ensure()
                # Cleared before claiming, so a NOTIFY arriving while we publish triggers another round.
                wake.clear()
                try:
                    published = await self.relay_once()
                    if time.monotonic() >= next_purge:
                        await self.purge()
                        next_purge = time.monotonic() + self.purge_interval
                except Exception:
                    backoff = min(max(backoff * 2, FIRST_RETRY_SECONDS), self.max_backoff)
                    log.warning("outbox relay failed; retrying", extra={"retry_in": backoff}, exc_info=True)
                    await wait_any(stop, seconds=backoff)
                    continue
                backoff = 0.0
                if published < self.batch_size:
                    await wait_any(stop, wake, listener.lost, seconds=self.poll_interval)
        finally:
            await listener.close()

    async def relay_once(self) -> int:
        """Claim one batch of unsent rows, publish it and mark it sent; returns the number of rows."""
        async with self._database.sessions() as session, session.begin():
            rows = await self._claim(session)
            if not rows:
                return 0
            await self._publish(rows)
            await self._mark_sent(session, [row.id for row in rows])
        return len(rows)

    async def purge(self) -> int:
        """Delete rows sent longer than ``retention`` ago; returns how many were deleted."""
        async with self._database.sessions() as session, session.begin():
            result = await session.execute(
                delete(outbox).where(outbox.c.sent_at < datetime.now(UTC) - self.retention)
            )
        deleted = int(getattr(result, "rowcount", 0))
        if deleted:
            log.info("purged sent outbox rows", extra={"rows": deleted})
        return deleted

    async def _claim(self, session: AsyncSession) -> list[_Claimed]:
        # The row locks are the claim: held until commit, skipped by other replicas meanwhile.
        result = await session.execute(
            select(outbox.c.id, outbox.c.subject, outbox.c.envelope)
            .where(outbox.c.sent_at.is_(None))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(self.batch_size)
            .with_for_update(skip_locked=True)
        )
        return [_Claimed(str(row.id), row.subject, bytes(row.envelope)) for row in result]

    async def _publish(self, rows: Sequence[_Claimed]) -> None:
        acks = [
            await self._js.publish_async(
                row.subject, row.envelope, headers={MSG_ID_HEADER: row.id}, stream=self.stream
            )
            for row in rows
        ]
        outcomes = await asyncio.wait_for(
            asyncio.gather(*acks, return_exceptions=True), timeout=self.publish_timeout
        )
        failed = [
            (row.id, outcome)
            for row, outcome in zip(rows, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        if failed:
            # The whole batch stays unsent: republishing the rows that did land is harmless, JetStream
            # drops them as duplicates.
            log.warning(
                "publishing outbox rows failed",
                extra={"failed": len(failed), "first_event_id": failed[0][0], "error": repr(failed[0][1])},
            )
            raise failed[0][1]

    async def _mark_sent(self, session: AsyncSession, ids: Sequence[str]) -> None:
        await session.execute(update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=func.now()))


class _Listener:
    """LISTEN for outbox rows on a dedicated connection, made again whenever it is lost.

    Polling covers the moments without one; a new LISTEN also wakes the relay once, for the rows
    committed while nobody listened.
    """

    RETRY_SECONDS = 5.0

    def __init__(self, database: Database, wake: asyncio.Event) -> None:
        self._database = database
        self._wake = wake
        self._connection: AsyncConnection | None = None
        self._raw: Any = None
        self._next_attempt = 0.0
        self._warned = False
        # Set when the connection closes, so the relay stops waiting and listens again at once.
        self.lost = asyncio.Event()

    async def ensure(self) -> None:
        """Listen, unless already listening or the last attempt failed moments ago."""
        if self._raw is not None and not self._raw.is_closed():
            return
        self.lost.clear()
        await self.close()
        if time.monotonic() < self._next_attempt:
            return
        # Twice: a pooled connection may have died with the one we lost; trying it makes SQLAlchemy
        # replace the pool's old connections, and the second attempt gets a new one.
        for attempt in (1, 2):
            try:
                await self._listen()
            except Exception:
                await self.close()
                if attempt == 2:
                    self._next_attempt = time.monotonic() + self.RETRY_SECONDS
                    if not self._warned:
                        log.warning("cannot LISTEN for outbox rows; polling until it can", exc_info=True)
                        self._warned = True
                    return
            else:
                break
        self._warned = False
        self._wake.set()

    async def _listen(self) -> None:
        connection = await self._database.engine.connect()
        self._connection = connection
        await connection.exec_driver_sql("SELECT 1")
        # Out of the transaction SQLAlchemy began: a session idle in a transaction gets no notifications.
        await connection.rollback()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None  # an asyncpg connection
        raw.add_termination_listener(lambda *_: self.lost.set())
        await raw.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        self._raw = raw

    async def close(self) -> None:
        """Drop the connection; never handed back to the pool while it LISTENs."""
        connection, self._connection, self._raw = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()


async def ensure_streams(
    js: JetStreamContext,
    sources: Iterable[str],
    *,
    max_age: timedelta = timedelta(days=7),
    duplicate_window: timedelta = timedelta(minutes=2),
    dead_letter_max_age: timedelta = timedelta(days=30),
) -> None:
    """Create or update the event stream of every source and the dead-letter stream."""
    for source in sources:
        if f"{SUBJECT_PREFIX}.{source}" == DEAD_LETTER_PREFIX or not source.isidentifier():
            raise ValueError(f"invalid event source name: {source!r}")
        await _ensure_stream(
            js,
            api.StreamConfig(
                name=stream_name(source),
                description=f"domain events raised by the {source} service",
                subjects=[f"{SUBJECT_PREFIX}.{source}.>"],
                storage=api.StorageType.FILE,
                retention=api.RetentionPolicy.LIMITS,
                discard=api.DiscardPolicy.OLD,
                max_age=max_age.total_seconds(),
                duplicate_window=duplicate_window.total_seconds(),
            ),
        )
    await _ensure_stream(
        js,
        api.StreamConfig(
            name=DEAD_LETTER_STREAM,
            description="events a consumer gave up on, with the error in the headers",
            subjects=[f"{DEAD_LETTER_PREFIX}.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            discard=api.DiscardPolicy.OLD,
            max_age=dead_letter_max_age.total_seconds(),
            duplicate_window=duplicate_window.total_seconds(),
        ),
    )


async def _ensure_stream(js: JetStreamContext, config: api.StreamConfig) -> None:
    try:
        await js.update_stream(config)
    except NotFoundError:
        # Two replicas may both get here; adding an identical stream twice succeeds.
        await js.add_stream(config)
