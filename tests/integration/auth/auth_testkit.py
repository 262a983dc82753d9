"""Helpers of the auth service's integration tests (a module of its own: conftest is not importable)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import socket
import uuid
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import nats
import nats.aio.msg
import pytest
from authlib.deprecate import AuthlibDeprecationWarning
from google.protobuf.message import Message

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.platform.errors import Unauthenticated
from toko.platform.grpc import STATUS_DETAILS_KEY, status_of
from toko.services.auth.settings import AuthSettings
from toko.user.v1 import user_pb2, user_pb2_grpc

with warnings.catch_warnings():
    # Authlib 1.9 nudges toward its httpx2 integration, which is not installed; the httpx one works.
    # (authlib.deprecate installs an "always" filter for its warnings on import, so ours goes after it.)
    warnings.simplefilter("ignore", AuthlibDeprecationWarning)
    from authlib.integrations.httpx_client import AsyncOAuth2Client

__all__ = ["AsyncOAuth2Client"]

M = TypeVar("M", bound=Message)

PASSWORD = "kata-sandi-rahasia-1"
TOTP_CODE = "246810"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def auth_settings(
    infrastructure: InfraEndpoints, *, database_name: str, data_dir: Path, user_service: str, **overrides: Any
) -> AuthSettings:
    """Settings on the session's servers, a database and data dir of the module's own, a free HTTP port."""
    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    return AuthSettings.model_validate(
        {
            "TOKO_DATABASE_URL": infrastructure.database_url,
            "TOKO_NATS_URL": infrastructure.nats_url,
            "TOKO_REDIS_URL": infrastructure.redis_url,
            "TOKO_PUBLIC_BASE_URL": base,
            "TOKO_AUTH_JWKS_URL": f"{base}/oauth2/jwks",
            "TOKO_AUTH_TOKEN_URL": f"{base}/oauth2/token",
            "TOKO_DATA_DIR": str(data_dir),
            "port": 0,
            "http_port": http_port,
            "database_name": database_name,
            "db_pool_size": 4,
            "user_service_address": user_service,
            **overrides,
        }
    )


def real_user_settings(
    infrastructure: InfraEndpoints, user_port: int, tmp_path_factory: pytest.TempPathFactory
) -> AuthSettings:
    """Settings of a provider calling the real user service on ``user_port`` (the ``user_service`` fixture)."""
    return auth_settings(
        infrastructure,
        database_name=f"auth_real_{uuid.uuid4().hex[:8]}",
        data_dir=Path(tmp_path_factory.mktemp("auth-real")),
        user_service=f"127.0.0.1:{user_port}",
    )


@dataclass
class FakeAccount:
    """An account of the fake user service."""

    email: str
    user_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    name: str = "Budi Santoso"
    roles: tuple[str, ...] = ("buyer",)
    shop_id: str = ""
    totp: bool = False
    language: str = "id"


class FakeUserService(user_pb2_grpc.UserServiceServicer):
    """The user service's internal sign-in RPCs over real gRPC, with accounts held in memory."""

    def __init__(self) -> None:
        self.accounts: dict[str, FakeAccount] = {}
        self.authorizations: list[str] = []
        self.used_codes: set[str] = set()

    def add(self, account: FakeAccount) -> FakeAccount:
        self.accounts[account.email] = account
        return account

    def _by_id(self, user_id: str) -> FakeAccount | None:
        return next((a for a in self.accounts.values() if a.user_id == user_id), None)

    def _record(self, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                self.authorizations.append(str(value))

    async def _refuse(self, context: grpc.aio.ServicerContext[Any, Any], reason: str) -> None:
        status = status_of(Unauthenticated(reason, "refused"), "user")
        await context.abort(
            grpc.StatusCode.UNAUTHENTICATED,
            "refused",
            trailing_metadata=((STATUS_DETAILS_KEY, status.SerializeToString()),),
        )

    async def VerifyCredentials(self, request: Any, context: Any) -> user_pb2.VerifyCredentialsResponse:
        self._record(context)
        account = self.accounts.get(request.email)
        if account is None or request.password != PASSWORD:
            await self._refuse(context, "INVALID_CREDENTIALS")
        assert account is not None
        return user_pb2.VerifyCredentialsResponse(
            user_id=account.user_id,
            roles=list(account.roles),
            shop_id=account.shop_id,
            email_verified=True,
            totp_required=account.totp,
            email=account.email,
            language=account.language,
        )

    async def VerifySecondFactor(self, request: Any, context: Any) -> user_pb2.VerifySecondFactorResponse:
        self._record(context)
        key = f"{request.user_id}:{request.code}"
        if request.code != TOTP_CODE or key in self.used_codes:
            await self._refuse(context, "INVALID_SECOND_FACTOR")
        self.used_codes.add(key)
        return user_pb2.VerifySecondFactorResponse()

    async def GetUserClaims(self, request: Any, context: Any) -> user_pb2.GetUserClaimsResponse:
        self._record(context)
        account = self._by_id(request.user_id)
        if account is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, "no such user")
        assert account is not None
        return user_pb2.GetUserClaimsResponse(
            user_id=account.user_id,
            email=account.email,
            email_verified=True,
            name=account.name,
            phone="+6281234567890",
            roles=list(account.roles),
            shop_id=account.shop_id,
        )


class Events:
    """Events of some kinds published on NATS while a test module runs, as its tests read them: the
    links the user service mails (until the notification service sends them), the provider's notices."""

    def __init__(self, *kinds: type[Message]) -> None:
        self.kinds = kinds
        self.events: list[Message] = []
        self.arrived = asyncio.Event()

    async def collect(self, message: nats.aio.msg.Msg) -> None:
        envelope = EventEnvelope.FromString(message.data)
        for kind in self.kinds:
            event = kind()
            if envelope.payload.Unpack(event):
                self.events.append(event)
                self.arrived.set()

    def of(self, kind: type[M], **fields: str) -> list[M]:
        """The events of ``kind`` whose ``fields`` have these values, so far."""
        return [
            e
            for e in self.events
            if isinstance(e, kind) and all(getattr(e, name) == value for name, value in fields.items())
        ]

    async def wait_for(self, kind: type[M], count: int = 1, **fields: str) -> list[M]:
        """Wait until ``count`` events of ``kind`` with these ``fields`` have arrived."""
        async with asyncio.timeout(10):
            while len(found := self.of(kind, **fields)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return found


@asynccontextmanager
async def listening(nats_url: str, subject: str, *kinds: type[Message]) -> AsyncIterator[Events]:
    """The events of ``kinds`` published on ``subject`` from now on, until the block ends."""
    events = Events(*kinds)
    client = await nats.connect(nats_url)
    subscription = await client.subscribe(subject, cb=events.collect)
    try:
        yield events
    finally:
        await subscription.unsubscribe()
        await client.close()


def pkce_pair() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden(html: str, name: str) -> str:
    """The value of a hidden form field."""
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no field {name!r} in the page"
    return unescape(match.group(1))


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a URL."""
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def sign_in(
    browser: httpx.AsyncClient, authorize_url: str, *, email: str, password: str = PASSWORD
) -> httpx.Response:
    """Open an authorization URL, fill in the login form, and return the response to the form post."""
    page = await browser.get(authorize_url)
    assert page.status_code == 200, page.text
    return await browser.post(
        "/oauth2/login",
        data={
            "csrf_token": hidden(page.text, "csrf_token"),
            "return_to": hidden(page.text, "return_to"),
            "email": email,
            "password": password,
        },
    )
