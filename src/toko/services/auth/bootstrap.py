"""Wires the auth service: database, signing keys, Valkey, the user service, the HTTP listener, consumers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import nats

from toko.auth.v1 import auth_pb2, auth_pb2_grpc
from toko.platform.cache import create_valkey
from toko.platform.consumer import EventConsumer
from toko.platform.db import Database, open_service_database
from toko.platform.events import stream_name
from toko.platform.grpc import GrpcService
from toko.platform.outbox import OutboxRelay, ensure_streams
from toko.platform.secrets import Sealer, derive_key, load_master_secret
from toko.platform.service import ServiceApp
from toko.platform.service_auth import read_service_secrets
from toko.platform.workers import BackgroundWorker, batch_worker
from toko.services.auth.accounts import Accounts, UserServiceAccounts
from toko.services.auth.consumers import (
    USER_EVENTS_CONSUMER,
    USER_EVENTS_SOURCE,
    USER_EVENTS_SUBJECTS,
    UserEvents,
)
from toko.services.auth.domain import KeyPolicy
from toko.services.auth.grpc_api import AuthServicer
from toko.services.auth.handlers import SOURCE, Lifetimes, Provider
from toko.services.auth.handlers.clients import register_service_clients
from toko.services.auth.handlers.tokens import purge_expired
from toko.services.auth.http.app import OAuthApp
from toko.services.auth.http.asgi import HttpListener, bind_socket
from toko.services.auth.http.pages import templates
from toko.services.auth.http.security import LoginThrottle, Sessions, Signer
from toko.services.auth.keys import KeyRing
from toko.services.auth.settings import AuthSettings

MIGRATIONS = Path(__file__).parent / "migrations"
MAINTENANCE_SECONDS = 3600.0


def lifetimes(settings: AuthSettings) -> Lifetimes:
    """How long codes and tokens live, from the settings."""
    return Lifetimes(
        access_token=timedelta(seconds=settings.access_token_seconds),
        id_token=timedelta(seconds=settings.id_token_seconds),
        refresh_token=timedelta(days=settings.refresh_token_days),
        authorization_code=timedelta(seconds=settings.authorization_code_seconds),
    )


def key_ring(settings: AuthSettings, database: Database) -> KeyRing:
    """The signing keys, encrypted under the master secret in the data dir."""
    master = load_master_secret(settings.data_dir, SOURCE)
    times = lifetimes(settings)
    return KeyRing(
        database=database,
        cipher=Sealer(derive_key(master, SOURCE, "signing-key encryption")),
        policy=KeyPolicy(
            rotate_after=timedelta(days=settings.signing_key_rotation_days),
            longest_token=max(times.access_token, times.id_token),
            leeway=timedelta(seconds=settings.clock_leeway_seconds),
            publish_ahead=timedelta(seconds=settings.signing_key_publish_ahead_seconds),
        ),
    )


def maintenance(provider: Provider) -> BackgroundWorker:
    """Rotate the signing key when due and purge expired codes and tokens, hourly."""

    async def one_round(_: int) -> int:
        await provider.keys.ensure_current()
        await purge_expired(provider=provider)
        return 0  # each round does all there is; below batch_size, so the worker waits the hour

    return batch_worker(one_round, what="auth maintenance", batch_size=1, interval=MAINTENANCE_SECONDS)


@dataclass
class AuthService:
    """The assembled service: what ``run`` starts, plus the parts tests look at."""

    app: ServiceApp
    provider: Provider
    http: HttpListener


async def build(settings: AuthSettings, *, accounts: Accounts | None = None) -> AuthService:
    """Assemble the provider; ``accounts`` replaces the user service (tests)."""
    database = await open_service_database(settings, MIGRATIONS)
    keys = key_ring(settings, database)
    await keys.ensure_current()
    issuer = settings.public_base_url.rstrip("/")
    user_service = UserServiceAccounts(settings.user_service_address, keys, issuer)
    valkey = create_valkey(settings.redis_url)
    provider = Provider(
        database=database,
        keys=keys,
        accounts=accounts or user_service,
        valkey=valkey,
        issuer=issuer,
        lifetimes=lifetimes(settings),
    )
    # Every service with a secret in the platform's credentials directory gets its client (role service).
    await register_service_clients(provider=provider, secrets=read_service_secrets(settings.credentials_dir))
    sessions = Sessions(valkey, lifetime_seconds=settings.login_session_hours * 3600)
    web = OAuthApp(
        provider=provider,
        sessions=sessions,
        throttle=LoginThrottle(
            valkey,
            per_account=settings.login_failures_per_account,
            per_ip=settings.login_failures_per_ip,
            window_seconds=settings.login_failure_window_seconds,
        ),
        signer=Signer(derive_key(load_master_secret(settings.data_dir, SOURCE), SOURCE, "cookies")),
        pages=templates(),
        registration=user_service,
    )
    http = HttpListener(
        web, bind_socket(settings.host, settings.http_port), forwarded_allow_ips=settings.forwarded_allow_ips
    )
    connection = await nats.connect(settings.nats_url, name="toko-auth", max_reconnect_attempts=-1)
    await ensure_streams(connection.jetstream(), [SOURCE, USER_EVENTS_SOURCE])
    # Publishes AccessTokensRevoked, which every verifier follows (toko.platform.revocation).
    relay = OutboxRelay(database, connection, source=SOURCE)
    user_events = EventConsumer(
        name=USER_EVENTS_CONSUMER,
        stream=stream_name(USER_EVENTS_SOURCE),
        subjects=USER_EVENTS_SUBJECTS,
        database=database,
        nats=connection,
        handler=UserEvents(provider, sessions),
        service=SOURCE,
    )

    app = ServiceApp(
        name=SOURCE,
        grpc_services=[
            GrpcService(
                descriptor=auth_pb2.DESCRIPTOR.services_by_name["AuthService"],
                servicer=AuthServicer(provider),
                register=auth_pb2_grpc.add_AuthServiceServicer_to_server,
            )
        ],
        workers=[http.run, relay.run, user_events.run, maintenance(provider)],
        on_stop=[connection.drain, user_service.close, valkey.aclose, database.dispose],
    )
    return AuthService(app=app, provider=provider, http=http)


async def bootstrap(settings: AuthSettings) -> ServiceApp:
    """Build the auth service with its HTTP listener, user-event consumer and maintenance worker."""
    return (await build(settings)).app
