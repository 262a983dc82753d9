"""Following the auth service's AccessTokensRevoked events on real JetStream."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.wrappers_pb2 import StringValue
from nats.aio.client import Client as NATS

from toko.auth.v1.events_pb2 import AccessTokensRevoked, RevokedAccessToken
from toko.infra.servers import InfraEndpoints
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
