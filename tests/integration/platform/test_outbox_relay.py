"""The transactional outbox and its relay, on real PostgreSQL and NATS JetStream."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import pytest
from google.protobuf.wrappers_pb2 import StringValue
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext
from nats.js.errors import NoStreamResponseError
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.db import Database, stage_events
from toko.platform.events import stream_name
from toko.platform.outbox import DEAD_LETTER_STREAM, OutboxRelay, ensure_streams
from toko.platform.schema import outbox

# The `eventually` fixture (conftest): waits for an async condition, or fails the test.
Eventually = Callable[..., Awaitable[None]]


async def raise_events(db: Database, source: str, count: int) -> list[str]:
    """Commit ``count`` events from ``source`` through a unit of work; returns their ids."""
    async with db.unit_of_work(source) as uow:
        for n in range(count):
            uow.publish(StringValue(value=f"event {n}"), subject=f"aggregate-{n}")
        ids = [event.id for event in uow.pending_events]
        await uow.commit()
    return ids


async def unsent(db: Database, ids: Sequence[str]) -> int:
    async with db.sessions() as session:
        return int(
            await session.scalar(select(func.count()).where(outbox.c.id.in_(ids), outbox.c.sent_at.is_(None)))
            or 0
        )


async def stream_ids(js: JetStreamContext, stream: str) -> list[str]:
    """The Nats-Msg-Id of every message in ``stream``, in stream order."""
    info = await js.stream_info(stream)
    ids = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(stream, seq)
        assert message.headers is not None
        ids.append(message.headers["Nats-Msg-Id"])
    return ids


@pytest.fixture(autouse=True)
async def empty_outbox(database: Database) -> None:
    """Each test starts with an empty outbox: a relay publishes every row, whichever test staged it."""
    async with database.sessions() as session, session.begin():
        await session.execute(outbox.delete())


@pytest.fixture
async def js(nats_client: NATS, source: str) -> JetStreamContext:
    context = nats_client.jetstream()
    await ensure_streams(context, [source])
    return context


async def test_events_of_a_rolled_back_transaction_never_reach_the_outbox(
    database: Database, source: str
) -> None:
    async with database.unit_of_work(source) as uow:
        uow.publish(StringValue(value="never"), subject="a")
        ids = [event.id for event in uow.pending_events]
        # Staged like commit() would, then abandoned.
        await stage_events(uow.session, uow.pending_events)

    async with database.sessions() as session:
        assert await session.scalar(select(func.count()).where(outbox.c.id.in_(ids))) == 0


async def test_committed_events_are_staged_with_their_envelope(database: Database, source: str) -> None:
    ids = await raise_events(database, source, 2)

    async with database.sessions() as session:
        rows = (await session.execute(select(outbox).where(outbox.c.id.in_(ids)).order_by(outbox.c.id))).all()
    assert [str(row.id) for row in rows] == sorted(ids)
    envelope = EventEnvelope.FromString(rows[0].envelope)
    assert envelope.id == str(rows[0].id)
    assert envelope.source == source
    assert rows[0].subject == f"toko.{source}.StringValue"
    assert rows[0].type == "google.protobuf.StringValue"
    assert all(row.sent_at is None for row in rows)


async def test_relay_publishes_with_the_event_id_as_message_id_and_marks_rows_sent(
    database: Database, nats_client: NATS, js: JetStreamContext, source: str
) -> None:
    ids = await raise_events(database, source, 3)

    published = await OutboxRelay(database, nats_client, source=source).relay_once()

    assert published == 3
    assert await stream_ids(js, stream_name(source)) == ids
    assert await unsent(database, ids) == 0


async def test_a_crash_between_publish_and_mark_sent_republishes_and_jetstream_drops_the_repeat(
    database: Database, nats_client: NATS, js: JetStreamContext, source: str
) -> None:
    class CrashesBeforeMarking(OutboxRelay):
        async def _mark_sent(self, session: AsyncSession, ids: Sequence[str]) -> None:
            raise RuntimeError("killed")

    ids = await raise_events(database, source, 3)
    with pytest.raises(RuntimeError, match="killed"):
        await CrashesBeforeMarking(database, nats_client, source=source).relay_once()
    assert await stream_ids(js, stream_name(source)) == ids
    assert await unsent(database, ids) == 3

    republished = await OutboxRelay(database, nats_client, source=source).relay_once()

    assert republished == 3
    assert await stream_ids(js, stream_name(source)) == ids
    assert await unsent(database, ids) == 0


async def test_two_relays_never_publish_the_same_row(
    database: Database, nats_client: NATS, js: JetStreamContext, source: str, eventually: Eventually
) -> None:
    published: list[str] = []

    class Counting(OutboxRelay):
        async def _publish(self, rows):  # type: ignore[no-untyped-def]
            published.extend(row.id for row in rows)
            await super()._publish(rows)

    ids = await raise_events(database, source, 200)
    relays = [Counting(database, nats_client, source=source, batch_size=7) for _ in range(2)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)) for relay in relays]

    async def all_sent() -> bool:
        return await unsent(database, ids) == 0

    await eventually(all_sent)
    stop.set()
    await asyncio.gather(*tasks)

    assert sorted(published) == sorted(ids)
    assert sorted(await stream_ids(js, stream_name(source))) == sorted(ids)


async def test_a_running_relay_wakes_on_commit_not_on_its_poll(
    database: Database, nats_client: NATS, js: JetStreamContext, source: str, eventually: Eventually
) -> None:
    stop = asyncio.Event()
    relay = OutboxRelay(database, nats_client, source=source, poll_interval=60)
    task = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.3)  # past the first, empty round

    ids = await raise_events(database, source, 1)

    async def published() -> bool:
        return (await js.stream_info(stream_name(source))).state.messages == 1

    await eventually(published, within=3)
    stop.set()
    await task
    assert await unsent(database, ids) == 0


async def test_publishing_to_a_missing_stream_leaves_rows_unsent(
    database: Database, nats_client: NATS
) -> None:
    orphan = "tnostream"
    ids = await raise_events(database, orphan, 1)

    with pytest.raises(NoStreamResponseError):
        await OutboxRelay(database, nats_client, source=orphan, publish_timeout=1).relay_once()

    assert await unsent(database, ids) == 1
    async with database.sessions() as session, session.begin():
        await session.execute(outbox.delete().where(outbox.c.id.in_(ids)))


async def test_purge_deletes_only_rows_sent_long_ago(
    database: Database, nats_client: NATS, source: str, js: JetStreamContext
) -> None:
    old, recent = await raise_events(database, source, 2)
    relay = OutboxRelay(database, nats_client, source=source, retention=timedelta(hours=1))
    await relay.relay_once()
    async with database.sessions() as session, session.begin():
        await session.execute(
            update(outbox).where(outbox.c.id == old).values(sent_at=text("now() - interval '2 hours'"))
        )

    await relay.purge()

    async with database.sessions() as session:
        left = set((await session.scalars(select(outbox.c.id).where(outbox.c.id.in_([old, recent])))).all())
    assert left == {recent}


async def test_ensure_streams_is_idempotent_and_configures_deduplication(
    nats_client: NATS, source: str
) -> None:
    js = nats_client.jetstream()

    await ensure_streams(js, [source])
    await ensure_streams(js, [source])

    info = await js.stream_info(stream_name(source))
    assert info.config.subjects == [f"toko.{source}.>"]
    assert info.config.duplicate_window == 120
    assert (await js.stream_info(DEAD_LETTER_STREAM)).config.subjects == ["toko.dlq.>"]


async def test_ensure_streams_rejects_a_source_that_would_shadow_the_dead_letters(nats_client: NATS) -> None:
    with pytest.raises(ValueError, match="invalid event source"):
        await ensure_streams(nats_client.jetstream(), ["dlq"])


async def test_a_relay_listens_again_after_postgresql_dropped_its_connection(
    database: Database, nats_client: NATS, js: JetStreamContext, source: str, eventually: Eventually
) -> None:
    stop = asyncio.Event()
    relay = OutboxRelay(database, nats_client, source=source, poll_interval=60)
    task = asyncio.create_task(relay.run(stop))
    await asyncio.sleep(0.3)  # past the first, empty round
    # What a PostgreSQL restart or failover does to the relay's LISTEN connection (and the pool's).
    async with database.sessions() as session:
        await session.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    await asyncio.sleep(0.5)

    async def published() -> bool:
        return (await js.stream_info(stream_name(source))).state.messages == 1

    # A commit still wakes the relay at once, not at its next 60 s poll. The first commit may meet a
    # dead pooled connection itself; the retry is what an idempotent client does.
    for _ in range(3):
        try:
            ids = await raise_events(database, source, 1)
            break
        except DBAPIError:
            continue
    await eventually(published, within=5)
    stop.set()
    await task
    assert await unsent(database, ids) == 0
