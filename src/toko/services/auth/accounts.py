"""The user service as the provider sees it: checking credentials and reading claims, over gRPC.

The user service's internal RPCs need the ``service`` role; the provider calls
them with an access token it signs itself (``sub`` ``service:auth``), verified
by the user service like any other token.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Protocol

import grpc
from google.rpc import error_details_pb2, status_pb2

from toko.platform.grpc import STATUS_DETAILS_KEY
from toko.services.auth.domain import ACCESS_TOKEN_AUDIENCE, UserClaims
from toko.services.auth.keys import KeyRing
from toko.user.v1 import user_pb2, user_pb2_grpc

SERVICE_TOKEN_SECONDS = 300
CALL_TIMEOUT_SECONDS = 10.0
# Reasons of UNAUTHENTICATED that are about the account, not about our service token.
ACCOUNT_REASONS = frozenset({"INVALID_CREDENTIALS", "INVALID_SECOND_FACTOR"})


class InvalidCredentials(Exception):
    """Unknown email or wrong password (the two are never told apart)."""


class InvalidSecondFactor(Exception):
    """A wrong or replayed TOTP or recovery code."""


class AccountsUnavailable(Exception):
    """The user service could not be reached."""


@dataclass(frozen=True)
class VerifiedAccount:
    """An account whose password was right."""

    user_id: str
    totp_required: bool


class Accounts(Protocol):
    """What the provider needs of the user service."""

    async def verify_credentials(self, *, email: str, password: str) -> VerifiedAccount:
        """The account, or raise ``InvalidCredentials``."""
        ...

    async def verify_second_factor(self, *, user_id: str, code: str) -> None:
        """Return when the code is right, or raise ``InvalidSecondFactor``."""
        ...

    async def claims(self, *, user_id: str) -> UserClaims:
        """What tokens say about the account; raise ``InvalidCredentials`` when it is gone."""
        ...


@dataclass
class UserServiceAccounts:
    """``Accounts`` over the user service's gRPC API."""

    address: str
    keys: KeyRing
    issuer: str
    _channel: grpc.aio.Channel | None = field(default=None, init=False)
    _token: tuple[str, float] = field(default=("", 0.0), init=False)

    def _stub(self) -> user_pb2_grpc.UserServiceAsyncStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address)
        return user_pb2_grpc.UserServiceStub(self._channel)

    async def _metadata(self) -> tuple[tuple[str, str], ...]:
        token, expires = self._token
        if time.time() > expires - 60:
            now = int(time.time())
            token = await self.keys.sign(
                {"typ": "at+jwt"},
                {
                    "iss": self.issuer,
                    "aud": ACCESS_TOKEN_AUDIENCE,
                    "sub": "service:auth",
                    "client_id": "auth",
                    "scope": "",
                    "roles": ["service"],
                    "shop_id": "",
                    "iat": now,
                    "nbf": now,
                    "exp": now + SERVICE_TOKEN_SECONDS,
                    "jti": str(uuid.uuid4()),
                },
            )
            self._token = (token, now + SERVICE_TOKEN_SECONDS)
        return (("authorization", f"Bearer {token}"),)

    async def verify_credentials(self, *, email: str, password: str) -> VerifiedAccount:
        """The account, or raise ``InvalidCredentials``."""
        try:
            reply = await self._stub().VerifyCredentials(
                user_pb2.VerifyCredentialsRequest(email=email, password=password),
                metadata=await self._metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            raise _translate(error, InvalidCredentials) from error
        return VerifiedAccount(user_id=reply.user_id, totp_required=reply.totp_required)

    async def verify_second_factor(self, *, user_id: str, code: str) -> None:
        """Return when the code is right, or raise ``InvalidSecondFactor``."""
        try:
            await self._stub().VerifySecondFactor(
                user_pb2.VerifySecondFactorRequest(user_id=user_id, code=code),
                metadata=await self._metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            raise _translate(error, InvalidSecondFactor) from error

    async def claims(self, *, user_id: str) -> UserClaims:
        """What tokens say about the account; raise ``InvalidCredentials`` when it is gone."""
        try:
            reply = await self._stub().GetUserClaims(
                user_pb2.GetUserClaimsRequest(user_id=user_id),
                metadata=await self._metadata(),
                timeout=CALL_TIMEOUT_SECONDS,
            )
        except grpc.aio.AioRpcError as error:
            raise _translate(error, InvalidCredentials) from error
        return UserClaims(
            user_id=reply.user_id,
            email=reply.email,
            email_verified=reply.email_verified,
            name=reply.name,
            phone=reply.phone,
            roles=tuple(reply.roles),
            shop_id=reply.shop_id,
        )

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()


def _reason(error: grpc.aio.AioRpcError) -> str:
    """The ``ErrorInfo.reason`` of a failed call, or ""."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    return str(info.reason)
    return ""


def _translate(error: grpc.aio.AioRpcError, refused: type[Exception]) -> Exception:
    # The account's fault (wrong password, unknown or deleted account, bad code) versus ours (the
    # service token refused, the user service down): only the first may be shown as a login failure.
    code = error.code()
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return refused(error.details() or "")
    if code is grpc.StatusCode.UNAUTHENTICATED and _reason(error) in ACCOUNT_REASONS:
        return refused(error.details() or "")
    return AccountsUnavailable(f"{code.name}: {error.details()}")
