"""Revoked access tokens, known in memory by every process that verifies tokens.

Access tokens are verified locally (signature and expiry), so revoking one cannot recall it. The auth
service therefore raises ``toko.auth.v1.AccessTokensRevoked`` through its outbox whenever tokens stop
being honoured before they expire. Every verifier — the gateway and each service — follows those events
with an ordered JetStream consumer (no durable state: on start it replays the last day of them) and
keeps the token ids until the tokens expire, so refusing a revoked token costs one dict lookup on the
request path and no network round trip.

Until the replay has been read, and while NATS is unreachable, tokens are judged on their signature and
expiry alone, as any RFC 9068 token is; revocations raised meanwhile are read when the consumer catches
up, because they wait in the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import nats
from google.protobuf.message import DecodeError
from nats.aio.client import Client as Nats
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from toko.auth.v1.events_pb2 import AccessTokensRevoked, RevocationCause
from toko.common.v1.event_pb2 import EventEnvelope
from toko.platform.events import event_subject, stream_name
from toko.platform.workers import wait_any

log = logging.getLogger("toko.revocation")

REVOCATION_SOURCE = "auth"
REVOCATION_SUBJECT = event_subject(REVOCATION_SOURCE, AccessTokensRevoked.DESCRIPTOR.name)
# Far longer than any access token lives (15 minutes by default), shorter than the stream keeps events.
REPLAY = timedelta(days=1)
RETRY_SECONDS = 2.0
PRUNE_SECONDS = 60.0


class RevokedTokens:
    """The ids (``jti``) of revoked access tokens that have not expired yet."""

    def __init__(self, *, clock: Callable[[], float] = time.time, leeway: float = 30.0) -> None:
        self._clock = clock
        # Verifiers accept a token up to ``leeway`` seconds past its exp; keep its id as long.
        self._leeway = leeway
        # jti -> the time after which the token is refused anyway.
        self._until: dict[str, float] = {}
        # jti -> why it was revoked, for the tokens whose cause is known.
        self._causes: dict[str, RevocationCause.ValueType] = {}
        self.caught_up = asyncio.Event()
        self.connected = False
        # When the last event read was stored, by the NATS server's clock.
        self._last_read: datetime | None = None

    @property
    def state(self) -> str:
        """For health reports: CONNECTING (never reached NATS yet), CATCHING_UP (replaying), CURRENT,
        or DISCONNECTED (reconnecting; revocations raised meanwhile are read once it is back)."""
        if not self.connected:
            return "DISCONNECTED" if self.caught_up.is_set() else "CONNECTING"
        return "CURRENT" if self.caught_up.is_set() else "CATCHING_UP"

    def __contains__(self, token_id: object) -> bool:
        return token_id in self._until

    def __len__(self) -> int:
        return len(self._until)

    def cause_of(self, token_id: str) -> RevocationCause.ValueType:
        """Why ``token_id`` was revoked (UNSPECIFIED when not known)."""
        return self._causes.get(token_id, RevocationCause.REVOCATION_CAUSE_UNSPECIFIED)

    def add(
        self,
        token_id: str,
        expires: float,
        cause: RevocationCause.ValueType = RevocationCause.REVOCATION_CAUSE_UNSPECIFIED,
    ) -> None:
        """Refuse ``token_id`` from now on; forgotten once the token has expired anyway."""
        until = expires + self._leeway
        if until > self._clock():
            self._until[token_id] = until
            if cause:
                self._causes[token_id] = cause

    def apply(self, event: AccessTokensRevoked) -> None:
        """Take in the tokens one event revokes."""
        for token in event.tokens:
            if token.jti:
                self.add(token.jti, token.expire_time.seconds + token.expire_time.nanos / 1e9, event.cause)

    def prune(self) -> None:
        """Forget tokens that have expired."""
        now = self._clock()
        for token_id in [token_id for token_id, until in self._until.items() if until <= now]:
            del self._until[token_id]
            self._causes.pop(token_id, None)

    async def follow(self, nats_url: str, stop: asyncio.Event, *, name: str) -> None:
        """Read the auth service's revocations until ``stop``: a background worker of each verifier.

        Waits for NATS and for the auth service's stream when they are not there yet; after NATS comes
        back from an outage it reads on from the last event it had read; never raises.
        """
        while not stop.is_set():
            reconnected = asyncio.Event()
            connection = await _connect_unless_stopped(
                nats_url, stop, name=name, watcher=self, reconnected=reconnected
            )
            if connection is None:
                return
            self.connected = True
            try:
                await self._read(connection, stop, reconnected)
            except Exception:
                log.warning("revocations: following failed; starting again", exc_info=True)
                await wait_any(stop, seconds=RETRY_SECONDS)
            finally:
                self.connected = False
                with contextlib.suppress(Exception):
                    await connection.close()

    async def _read(self, connection: Nats, stop: asyncio.Event, reconnected: asyncio.Event) -> None:
        """Follow the subject on one connection, subscribing again after each reconnection.

        An ordered consumer is ephemeral: a NATS server that restarted has forgotten it. The new one
        starts at the last event read (by the server's clock; reading one twice is harmless), or
        where the previous one started.
        """
        since = self._last_read or datetime.now(UTC) - REPLAY
        while not stop.is_set():
            try:
                subscription = await self._subscribe(connection, since)
            except Exception:  # JetStream not answering yet (a server just restarted), a timeout
                log.warning("revocations: cannot subscribe yet; retrying", exc_info=True)
                subscription = None
            if subscription is None:  # or the auth service has not created its stream yet
                await wait_any(stop, seconds=RETRY_SECONDS)
                continue
            while not (stop.is_set() or reconnected.is_set()):
                await wait_any(stop, reconnected, seconds=PRUNE_SECONDS)
                self.prune()
            reconnected.clear()
            with contextlib.suppress(Exception):
                await subscription.unsubscribe()
            since = self._last_read or since

    async def _subscribe(self, connection: Nats, since: datetime) -> JetStreamContext.PushSubscription | None:
        """Start the ordered consumer at ``since``; None when the auth service's stream does not exist."""
        try:
            subscription = await connection.jetstream().subscribe(
                REVOCATION_SUBJECT,
                stream=stream_name(REVOCATION_SOURCE),
                cb=self._on_message,
                ordered_consumer=True,
                deliver_policy=api.DeliverPolicy.BY_START_TIME,
                config=api.ConsumerConfig(opt_start_time=since),
            )
            # An empty replay delivers nothing, so nothing else would tell that it is done.
            if (await subscription.consumer_info()).num_pending == 0:
                self.caught_up.set()
        except NotFoundError:
            return None
        return subscription

    async def _on_message(self, message: Msg) -> None:
        try:
            envelope = EventEnvelope.FromString(message.data)
            event = AccessTokensRevoked()
            if not envelope.payload.Unpack(event):
                raise DecodeError(f"payload is {envelope.payload.TypeName()}")
        except DecodeError:
            log.warning("revocations: an event that is not AccessTokensRevoked was skipped", exc_info=True)
        else:
            self.apply(event)
        metadata = message.metadata
        self._last_read = metadata.timestamp
        if metadata.num_pending == 0:
            self.caught_up.set()


async def _connect_unless_stopped(
    nats_url: str, stop: asyncio.Event, *, name: str, watcher: RevokedTokens, reconnected: asyncio.Event
) -> Nats | None:
    """Connect to NATS, trying until it answers, then reconnecting on its own: ``watcher.connected`` says
    whether it is connected, and ``reconnected`` is set on each reconnection. None once ``stop`` is set."""
    warned = False

    async def on_disconnect() -> None:
        watcher.connected = False

    async def on_reconnect() -> None:
        watcher.connected = True
        reconnected.set()

    async def unreachable(error: Exception) -> None:
        nonlocal warned
        if not warned:
            log.warning(
                "revocations: NATS unreachable (%s); tokens are checked without them meanwhile", error
            )
            warned = True

    connecting = asyncio.ensure_future(
        nats.connect(
            nats_url,
            name=f"toko-{name}-revocations",
            max_reconnect_attempts=-1,
            reconnect_time_wait=RETRY_SECONDS,
            connect_timeout=2,
            error_cb=unreachable,
            disconnected_cb=on_disconnect,
            reconnected_cb=on_reconnect,
        )
    )
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if connecting.done():
        return connecting.result()
    connecting.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await connecting
    return None
