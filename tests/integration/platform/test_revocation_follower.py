"""Following the auth service's AccessTokensRevoked events on real JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import nats
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import StringValue
from nats.aio.client import Client as NATS

from toko.auth.v1.events_pb2 import AccessTokensRevoked, RevokedAccessToken
from toko.infra.servers import InfraEndpoints
from toko.infra.tcpservers import NatsServer
from toko.platform.events import PendingEvent
from toko.platform.outbox import ensure_streams
from toko.platform.revocation import REVOCATION_SOURCE, RevokedTokens

Eventually = Callable[..., Awaitable[None]]


async def publish(nats_client: NATS, event: PendingEvent) -> None:
    """Publish as the auth service's outbox relay does."""
    await nats_client.jetstream().publish(
        event.nats_subject, event.envelope().SerializeToString(), headers={"Nats-Msg-Id": event.id}
    )


def revoked_event(jti: str) -> PendingEvent:
    expires = Timestamp(seconds=int(time.time()) + 600)
    return PendingEvent(
        source=REVOCATION_SOURCE,
        subject="user-1",
        message=AccessTokensRevoked(tokens=[RevokedAccessToken(jti=jti, expire_time=expires)]),
    )


async def test_a_running_verifier_learns_a_revocation_and_a_starting_one_replays_it(
    nats_client: NATS, infrastructure: InfraEndpoints, eventually: Eventually
) -> None:
    await ensure_streams(nats_client.jetstream(), [REVOCATION_SOURCE])
    stop = asyncio.Event()
    running = RevokedTokens()
    tasks = [asyncio.create_task(running.follow(infrastructure.nats_url, stop, name="test-running"))]
    try:
        await asyncio.wait_for(running.caught_up.wait(), 15)
        assert running.state == "CURRENT"
        jti = uuid.uuid4().hex
        # A stray event of another type on the subject is skipped; the follower carries on.
        stray = PendingEvent(source=REVOCATION_SOURCE, subject="x", message=StringValue(value="?"))
        await nats_client.jetstream().publish(
            revoked_event(jti).nats_subject, stray.envelope().SerializeToString()
        )
        await publish(nats_client, revoked_event(jti))

        async def learnt() -> bool:
            return jti in running

        await eventually(learnt)

        starting = RevokedTokens()
        tasks.append(
            asyncio.create_task(starting.follow(infrastructure.nats_url, stop, name="test-starting"))
        )
        await asyncio.wait_for(starting.caught_up.wait(), 15)
        assert jti in starting
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def test_a_verifier_without_nats_keeps_trying_and_stops_when_asked() -> None:
    stop = asyncio.Event()
    revoked = RevokedTokens()
    task = asyncio.create_task(revoked.follow("nats://127.0.0.1:9", stop, name="test-unreachable"))
    await asyncio.sleep(0.5)
    assert not task.done()
    assert not revoked.caught_up.is_set()
    assert revoked.state == "CONNECTING"
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_a_verifier_reads_revocations_raised_while_nats_was_down(
    restartable_nats: NatsServer, eventually: Eventually
) -> None:
    nats_server = restartable_nats
    stop = asyncio.Event()
    revoked = RevokedTokens()
    follower = asyncio.create_task(revoked.follow(nats_server.url, stop, name="test-restart"))
    try:
        publisher = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
        await ensure_streams(publisher.jetstream(), [REVOCATION_SOURCE])
        await asyncio.wait_for(revoked.caught_up.wait(), 15)
        before = uuid.uuid4().hex
        await publish(publisher, revoked_event(before))

        async def learnt(jti: str) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return jti in revoked

            return check

        await eventually(await learnt(before))

        nats_server.stop()

        async def disconnected() -> bool:
            return revoked.state == "DISCONNECTED"

        await eventually(disconnected)
        nats_server.launch()  # same port and store: the stream and its events are still there
        nats_server.wait_ready(15)
        after = uuid.uuid4().hex
        await eventually(_published(publisher, revoked_event(after)), within=20)
        await eventually(await learnt(after), within=30)
        assert revoked.state == "CURRENT"
        await publisher.close()
    finally:
        stop.set()
        await follower


def _published(nats_client: NATS, event: PendingEvent) -> Callable[[], Awaitable[bool]]:
    """A check that publishes ``event`` once the client has reconnected, true when JetStream took it."""

    async def check() -> bool:
        try:
            await publish(nats_client, event)
        except Exception:
            return False
        return True

    return check
