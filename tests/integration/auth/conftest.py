"""Fixtures of the auth service's integration tests: the real provider, and a fake user service over gRPC."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from auth_testkit import FakeAccount, FakeUserService, auth_settings, free_port

from toko.infra.servers import InfraEndpoints
from toko.platform.auth import Principal
from toko.platform.service import RunningService, start_service
from toko.services.auth.bootstrap import AuthService, build
from toko.services.auth.domain import ClientSpec, ClientType
from toko.services.auth.handlers import clients
from toko.services.auth.settings import AuthSettings
from toko.services.user.bootstrap import bootstrap as user_bootstrap
from toko.services.user.settings import UserSettings
from toko.user.v1 import user_pb2_grpc

ADMIN = Principal(subject="test-admin", roles=frozenset({"admin"}))


@pytest.fixture(scope="module")
async def fake_users() -> AsyncIterator[tuple[FakeUserService, str]]:
    """The fake user service, listening on a free port."""
    servicer = FakeUserService()
    server = grpc.aio.server()
    user_pb2_grpc.add_UserServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield servicer, f"127.0.0.1:{port}"
    await server.stop(0.5)


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints,
    fake_users: tuple[FakeUserService, str],
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
) -> AuthSettings:
    """Settings with a fresh database and data dir for this module."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    return auth_settings(
        infrastructure,
        database_name=f"{module}_{uuid.uuid4().hex[:8]}",
        data_dir=Path(tmp_path_factory.mktemp("auth-data")),
        user_service=fake_users[1],
        login_failures_per_account=3,
        login_failures_per_ip=6,
    )


@pytest.fixture(scope="module")
async def running_auth(settings: AuthSettings) -> AsyncIterator[tuple[AuthService, RunningService]]:
    """The auth service, bootstrapped as in production, serving gRPC and HTTP."""
    service = await build(settings)
    running = await start_service(service.app, settings)
    yield service, running
    await running.stop(1.0)


@pytest.fixture(scope="module")
def auth(running_auth: tuple[AuthService, RunningService]) -> AuthService:
    """The assembled auth service."""
    return running_auth[0]


@pytest.fixture(scope="module")
def grpc_address(running_auth: tuple[AuthService, RunningService]) -> str:
    """Where the admin API listens."""
    return f"127.0.0.1:{running_auth[1].port}"


@pytest.fixture(scope="module")
def base_url(auth: AuthService) -> str:
    """The provider's origin (its HTTP listener; in production the gateway's)."""
    return auth.provider.issuer


@pytest.fixture
async def browser(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping HTTP client that does not follow redirects, from an address of its own."""
    address = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with httpx.AsyncClient(
        base_url=base_url, follow_redirects=False, headers={"x-forwarded-for": address}, timeout=20
    ) as client:
        yield client


@pytest.fixture(scope="module")
def user_port() -> int:
    """Where the real user service listens, for the modules that start it (``user_service``)."""
    return free_port()


@pytest.fixture(scope="module")
async def user_service(
    infrastructure: InfraEndpoints, settings: AuthSettings, user_port: int, base_url: str
) -> AsyncIterator[RunningService]:
    """The real user service, trusting the provider's keys; its module's ``settings`` point the provider
    at it (``real_user_settings``)."""
    user_settings = UserSettings.model_validate(
        {
            "TOKO_DATABASE_URL": infrastructure.database_url,
            "TOKO_NATS_URL": infrastructure.nats_url,
            "TOKO_REDIS_URL": infrastructure.redis_url,
            "TOKO_PUBLIC_BASE_URL": base_url,
            "TOKO_AUTH_JWKS_URL": f"{base_url}/oauth2/jwks",
            "TOKO_DATA_DIR": str(settings.data_dir),
            "port": user_port,
            "database_name": f"user_real_{uuid.uuid4().hex[:8]}",
            "db_pool_size": 4,
        }
    )
    running = await start_service(await user_bootstrap(user_settings), user_settings)
    yield running
    await running.stop(1.0)


@pytest.fixture(scope="module")
async def users(user_service: RunningService) -> AsyncIterator[user_pb2_grpc.UserServiceAsyncStub]:
    """A client of the real user service."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{user_service.port}") as channel:
        yield user_pb2_grpc.UserServiceStub(channel)


@pytest.fixture
def buyer(fake_users: tuple[FakeUserService, str]) -> FakeAccount:
    """A buyer account of its own."""
    return fake_users[0].add(FakeAccount(email=f"pembeli-{uuid.uuid4().hex[:8]}@toko.test"))


@pytest.fixture(scope="module")
async def storefront(auth: AuthService) -> str:
    """A first-party public client with PKCE, code and refresh grants; returns its redirect URI."""
    redirect_uri = "http://127.0.0.1:8765/callback"
    await clients.register_client(
        provider=auth.provider,
        spec=ClientSpec(
            name="toko storefront",
            client_type=ClientType.PUBLIC,
            redirect_uris=(redirect_uri,),
            post_logout_redirect_uris=("http://127.0.0.1:8765/",),
            allowed_scopes=("openid", "profile", "email", "offline_access", "account", "shop.manage"),
            grant_types=("authorization_code", "refresh_token"),
            first_party=True,
        ),
        principal=ADMIN,
        client_id="storefront",
    )
    return redirect_uri


@pytest.fixture(scope="module")
async def scripts(auth: AuthService) -> tuple[str, str]:
    """A confidential client-credentials client with the admin role; returns its id and secret."""
    client, secret = await clients.register_client(
        provider=auth.provider,
        spec=ClientSpec(
            name="toko scripts",
            client_type=ClientType.CONFIDENTIAL,
            allowed_scopes=("catalog.write", "admin"),
            grant_types=("client_credentials",),
            first_party=True,
            roles=("admin",),
        ),
        principal=ADMIN,
        client_id="toko-scripts",
    )
    return client.client_id, secret
