"""Event consumers with an inbox, retries and a dead-letter subject, on real PostgreSQL and JetStream."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import nats
import pytest
from google.protobuf.message import Message
from google.protobuf.wrappers_pb2 import StringValue
from nats.aio.client import Client as NATS
from nats.js.client import JetStreamContext
from sqlalchemy import func, select, text

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.tcpservers import NatsServer
from toko.platform.consumer import ERROR_HEADER, ORIGINAL_SUBJECT_HEADER, EventConsumer
from toko.platform.context import TraceContext, trace_var
from toko.platform.db import Database, UnitOfWork
from toko.platform.events import PendingEvent, stream_name
from toko.platform.outbox import DEAD_LETTER_STREAM, ensure_streams
from toko.platform.schema import inbox, outbox

# The `eventually` fixture (conftest): waits for an async condition, or fails the test.
Eventually = Callable[..., Awaitable[None]]


def make_event(source: str, value: str = "hello", trace: TraceContext | None = None) -> PendingEvent:
    return PendingEvent(source=source, subject="aggregate-1", message=StringValue(value=value), trace=trace)


async def publish(js: JetStreamContext, event: PendingEvent, msg_id: str | None = None) -> bytes:
    """Publish ``event`` as the relay would, under a message id of our choosing; returns the envelope."""
    envelope = event.envelope().SerializeToString()
    await js.publish(event.nats_subject, envelope, headers={"Nats-Msg-Id": msg_id or event.id})
    return envelope


async def times_handled(db: Database, event_id: str) -> int:
    async with db.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM handled WHERE event_id = :id"), {"id": event_id}
        )
    return int(count or 0)


async def record(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
    """A handler whose side effect is a row in ``handled``."""
    assert isinstance(payload, StringValue)
    await uow.session.execute(
        text("INSERT INTO handled (event_id, note) VALUES (:id, :note)"),
        {"id": envelope.id, "note": payload.value},
    )


@pytest.fixture
async def js(nats_client: NATS, source: str) -> JetStreamContext:
    context = nats_client.jetstream()
    await ensure_streams(context, [source])
    return context


Start = Callable[..., Awaitable[EventConsumer]]


@pytest.fixture
async def start_consumer(database: Database, nats_client: NATS, source: str) -> AsyncIterator[Start]:
    """Start consumers running in the background; they are stopped after the test."""
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def start(handler=record, **options) -> EventConsumer:  # type: ignore[no-untyped-def]
        consumer = EventConsumer(
            name=f"test-{uuid.uuid4().hex[:8]}",
            stream=stream_name(source),
            subjects=[f"toko.{source}.>"],
            database=database,
            nats=nats_client,
            handler=handler,
            service="tester",
            fetch_timeout=0.2,
            **options,
        )
        tasks.append(asyncio.create_task(consumer.run(stop)))
        return consumer

    yield start
    stop.set()
    await asyncio.gather(*tasks)


async def test_an_event_is_handled_once_in_the_handlers_transaction(
    database: Database, js: JetStreamContext, source: str, start_consumer: Start, eventually: Eventually
) -> None:
    event = make_event(source)
    await publish(js, event)

    consumer = await start_consumer()

    async def handled() -> bool:
        return await times_handled(database, event.id) == 1

    await eventually(handled)
    async with database.sessions() as session:
        processed = await session.scalar(
            select(func.count()).where(inbox.c.consumer == consumer.name, inbox.c.event_id == event.id)
        )
    assert processed == 1


async def test_the_same_event_published_twice_is_handled_once(
    database: Database, js: JetStreamContext, source: str, start_consumer: Start, eventually: Eventually
) -> None:
    event = make_event(source)
    # Different message ids get past JetStream's deduplication: two deliveries of one event.
    await publish(js, event, msg_id="first")
    await publish(js, event, msg_id="second")
    marker = make_event(source, "marker")
    await publish(js, marker)

    await start_consumer()

    async def marker_handled() -> bool:
        return await times_handled(database, marker.id) == 1

    await eventually(marker_handled)
    assert await times_handled(database, event.id) == 1


async def test_a_redelivery_after_a_lost_ack_is_skipped(
    database: Database, nats_client: NATS, js: JetStreamContext, source: str
) -> None:
    event = make_event(source)
    await publish(js, event)
    consumer = EventConsumer(
        name=f"test-{uuid.uuid4().hex[:8]}",
        stream=stream_name(source),
        subjects=[f"toko.{source}.>"],
        database=database,
        nats=nats_client,
        handler=record,
        service="tester",
    )
    await js.add_consumer(consumer.stream, config=consumer.consumer_config())
    subscription = await js.pull_subscribe_bind(durable=consumer.name, stream=consumer.stream)

    (first,) = await subscription.fetch(1, timeout=2)
    # The handler commits, but the ack never reaches the server: it sends the event again.
    first.ack = first.nak  # type: ignore[method-assign]
    await consumer.handle(first)
    (second,) = await subscription.fetch(1, timeout=2)
    await consumer.handle(second)

    assert second.metadata.num_delivered == 2
    assert await times_handled(database, event.id) == 1
    info = await subscription.consumer_info()
    assert info.num_ack_pending == 0
    assert info.num_pending == 0
    await subscription.unsubscribe()


async def test_a_handler_that_fails_once_is_retried_and_handles_the_event_once(
    database: Database, js: JetStreamContext, source: str, start_consumer: Start, eventually: Eventually
) -> None:
    attempts: list[int] = []

    async def flaky(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        await record(uow, envelope, payload)
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")  # after its write: the rollback must undo it

    event = make_event(source)
    await publish(js, event)
    await start_consumer(handler=flaky, backoff=0.05)

    async def handled() -> bool:
        return await times_handled(database, event.id) == 1

    await eventually(handled)
    await asyncio.sleep(0.3)
    assert len(attempts) == 2
    assert await times_handled(database, event.id) == 1


async def test_a_handler_that_keeps_failing_dead_letters_the_event(
    database: Database,
    nats_client: NATS,
    js: JetStreamContext,
    source: str,
    start_consumer: Start,
    eventually: Eventually,
) -> None:
    attempts: list[int] = []

    async def broken(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        attempts.append(1)
        raise ValueError("no such warehouse\nW-42")

    event = make_event(source)
    envelope = await publish(js, event)
    consumer = await start_consumer(handler=broken, max_attempts=3, backoff=0.05)
    dead_letters = await js.pull_subscribe(consumer.dead_letter_subject, stream=DEAD_LETTER_STREAM)

    (dead,) = await dead_letters.fetch(1, timeout=10)

    assert dead.subject == f"toko.dlq.{consumer.name}"
    assert dead.data == envelope
    assert dead.headers is not None
    assert "no such warehouse" in dead.headers[ERROR_HEADER]
    assert dead.headers[ORIGINAL_SUBJECT_HEADER] == event.nats_subject
    assert len(attempts) == 3
    assert await times_handled(database, event.id) == 0

    async def settled() -> bool:
        info = await js.consumer_info(consumer.stream, consumer.name)
        return bool(info.num_ack_pending == 0 and info.num_redelivered == 0)

    await eventually(settled)
    await dead_letters.unsubscribe()


async def test_an_outage_of_a_dependency_is_ridden_out_not_dead_lettered(
    database: Database,
    js: JetStreamContext,
    source: str,
    start_consumer: Start,
    eventually: Eventually,
) -> None:
    attempts: list[int] = []

    async def database_away_for_a_while(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        attempts.append(1)
        if len(attempts) <= 6:  # twice max_attempts: a PostgreSQL restart, say
            raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 15432)")
        await record(uow, envelope, payload)

    event = make_event(source)
    await publish(js, event)
    consumer = await start_consumer(handler=database_away_for_a_while, max_attempts=3, backoff=0.05)

    async def handled() -> bool:
        return await times_handled(database, event.id) == 1

    await eventually(handled)
    assert len(attempts) == 7
    # The event was held while its handler could not reach the database: one delivery, no dead letter.
    info = await js.consumer_info(consumer.stream, consumer.name)
    assert info.num_redelivered == 0
    dead_letters = await js.pull_subscribe(consumer.dead_letter_subject, stream=DEAD_LETTER_STREAM)
    with pytest.raises(nats.errors.TimeoutError):
        await dead_letters.fetch(1, timeout=0.5)
    await dead_letters.unsubscribe()


async def test_an_outage_longer_than_max_hold_counts_as_failed_attempts(
    js: JetStreamContext, source: str, start_consumer: Start
) -> None:
    async def database_gone(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        raise ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 15432)")

    await publish(js, make_event(source))
    consumer = await start_consumer(
        handler=database_gone, max_attempts=2, backoff=0.05, max_hold=timedelta(seconds=0.3)
    )
    dead_letters = await js.pull_subscribe(consumer.dead_letter_subject, stream=DEAD_LETTER_STREAM)

    (dead,) = await dead_letters.fetch(1, timeout=10)

    assert dead.headers is not None
    assert "Connect call failed" in dead.headers[ERROR_HEADER]
    await dead_letters.unsubscribe()


async def test_an_event_of_an_unknown_type_is_dead_lettered_at_once(
    nats_client: NATS, js: JetStreamContext, source: str, start_consumer: Start
) -> None:
    envelope = make_event(source).envelope()
    envelope.payload.type_url = "type.googleapis.com/toko.nowhere.v1.Unheard"
    await js.publish(f"toko.{source}.Unheard", envelope.SerializeToString())
    attempts: list[int] = []

    async def never(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        attempts.append(1)

    consumer = await start_consumer(handler=never)
    dead_letters = await js.pull_subscribe(consumer.dead_letter_subject, stream=DEAD_LETTER_STREAM)

    (dead,) = await dead_letters.fetch(1, timeout=10)

    assert dead.headers is not None
    assert "toko.nowhere.v1.Unheard" in dead.headers[ERROR_HEADER]
    assert attempts == []
    await dead_letters.unsubscribe()


async def test_the_handler_runs_in_the_events_trace_and_its_events_reach_the_outbox(
    database: Database, js: JetStreamContext, source: str, start_consumer: Start, eventually: Eventually
) -> None:
    trace = TraceContext.new()
    seen: list[TraceContext | None] = []

    async def react(uow: UnitOfWork, envelope: EventEnvelope, payload: Message) -> None:
        seen.append(trace_var.get())
        uow.publish(StringValue(value="reaction"), subject=envelope.subject)

    event = make_event(source, trace=trace)
    await publish(js, event)
    await start_consumer(handler=react)

    async def reacted() -> bool:
        return bool(seen)

    await eventually(reacted)
    assert seen[0] is not None
    assert seen[0].trace_id == trace.trace_id
    assert trace_var.get() is None

    async def staged() -> bool:
        async with database.sessions() as session:
            rows = (
                await session.scalars(select(outbox.c.envelope).where(outbox.c.aggregate == "aggregate-1"))
            ).all()
        return any(EventEnvelope.FromString(row).traceparent.split("-")[1] == trace.trace_id for row in rows)

    await eventually(staged)


def test_a_consumer_name_must_be_a_single_subject_token(database: Database) -> None:
    with pytest.raises(ValueError, match="invalid consumer name"):
        EventConsumer(
            name="search.products",
            stream="TOKO_PRODUCT",
            subjects=["toko.product.>"],
            database=database,
            nats=NATS(),
            handler=record,
            service="search",
        )


async def test_a_consumer_carries_on_after_nats_restarts(
    database: Database, restartable_nats: NatsServer, eventually: Eventually
) -> None:
    nats_server = restartable_nats
    source = f"restart{uuid.uuid4().hex[:8]}"
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    stop = asyncio.Event()
    try:
        js = client.jetstream()
        await ensure_streams(js, [source])
        consumer = EventConsumer(
            name=f"test-{uuid.uuid4().hex[:8]}",
            stream=stream_name(source),
            subjects=[f"toko.{source}.>"],
            database=database,
            nats=client,
            handler=record,
            service="tester",
            fetch_timeout=0.2,
            backoff=0.1,
            max_backoff=0.5,
        )
        running = asyncio.create_task(consumer.run(stop))
        before, after = make_event(source, "before"), make_event(source, "after")
        await publish(js, before)

        async def handled(event: PendingEvent) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return await times_handled(database, event.id) == 1

            return check

        await eventually(await handled(before))
        nats_server.stop()
        await asyncio.sleep(0.5)
        nats_server.launch()  # same port and store: the stream and the durable consumer are kept
        nats_server.wait_ready(15)

        async def published() -> bool:
            try:
                await publish(js, after)
            except Exception:
                return False
            return True

        await eventually(published, within=20)
        await eventually(await handled(after), within=20)
        stop.set()
        await running
    finally:
        stop.set()
        await client.close()
