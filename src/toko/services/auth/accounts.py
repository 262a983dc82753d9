"""The user service as the provider sees it, over gRPC: checking credentials and reading claims
(``Accounts``), and signing up, verifying addresses and resetting passwords for the account pages
(``Registration``).

The user service's internal RPCs need the ``service`` role; the provider calls
them with an access token it signs itself (``sub`` ``service:auth``), verified
by the user service like any other token. Asking for a new verification link
acts for the account that has just proved its password: the provider signs it a
token of its own, for one minute and the ``account`` scope.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import grpc
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from toko.platform.grpc import STATUS_DETAILS_KEY
from toko.services.auth.domain import ACCESS_TOKEN_AUDIENCE, UserClaims
from toko.services.auth.keys import KeyRing
from toko.user.v1 import user_pb2, user_pb2_grpc

SERVICE_TOKEN_SECONDS = 300
ON_BEHALF_SECONDS = 60
CALL_TIMEOUT_SECONDS = 10.0
# Reasons of UNAUTHENTICATED that are about the account, not about our service token.
ACCOUNT_REASONS = frozenset({"INVALID_CREDENTIALS", "INVALID_SECOND_FACTOR"})
# What the user service answers when the request, not the service, is at fault.
_REFUSALS = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION}
)

Reply = TypeVar("Reply", bound=Message)
Metadata = tuple[tuple[str, str], ...]


class InvalidCredentials(Exception):
    """Unknown email or wrong password (the two are never told apart)."""


class InvalidSecondFactor(Exception):
    """A wrong or replayed TOTP or recovery code."""


class AccountsUnavailable(Exception):
    """The user service could not be reached."""


@dataclass(frozen=True)
class FieldProblem:
    """One field the user service refused: its path, reason and description."""

    field: str
    reason: str
    description: str


class AccountRefused(Exception):
    """The user service refused a request: the reason, and the fields at fault."""

    def __init__(self, reason: str, problems: Sequence[FieldProblem] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.problems = tuple(problems)


@dataclass(frozen=True)
class VerifiedAccount:
    """An account whose password was right."""

    user_id: str
    totp_required: bool
    email: str = ""
    language: str = "id"
    email_verified: bool = False


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


class Registration(Protocol):
    """What the account pages need of the user service; a refused request raises ``AccountRefused``."""

    async def verify_credentials(self, *, email: str, password: str) -> VerifiedAccount:
        """The account, or raise ``InvalidCredentials``."""
        ...

    async def sign_up(self, *, email: str, name: str, password: str, language: str, attempt: str) -> None:
        """Create an account and mail its verification link; a repeated ``attempt`` is answered once."""
        ...

    async def verify_email(self, *, token: str) -> str:
        """Verify the address of the token's account; the address."""
        ...

    async def resend_verification(self, *, user_id: str) -> None:
        """Mail the account a new verification link."""
        ...

    async def request_password_reset(self, *, email: str) -> None:
        """Mail a reset link if an account has ``email``."""
        ...

    async def reset_password(self, *, token: str, new_password: str) -> None:
        """Set a new password with a reset token."""
        ...


@dataclass
class UserServiceAccounts:
    """``Accounts`` and ``Registration`` over the user service's gRPC API."""

    address: str
    keys: KeyRing
    issuer: str
    _channel: grpc.aio.Channel | None = field(default=None, init=False)
    _token: tuple[str, float] = field(default=("", 0.0), init=False)

    def _stub(self) -> user_pb2_grpc.UserServiceAsyncStub:
        if self._channel is None:
            self._channel = grpc.aio.insecure_channel(self.address)
        return user_pb2_grpc.UserServiceStub(self._channel)

    async def _sign(self, *, subject: str, roles: list[str], scope: str, seconds: int) -> str:
        now = int(time.time())
        return await self.keys.sign(
            {"typ": "at+jwt"},
            {
                "iss": self.issuer,
                "aud": ACCESS_TOKEN_AUDIENCE,
                "sub": subject,
                "client_id": "auth",
                "scope": scope,
                "roles": roles,
                "shop_id": "",
                "iat": now,
                "nbf": now,
                "exp": now + seconds,
                "jti": str(uuid.uuid4()),
            },
        )

    async def _metadata(self) -> Metadata:
        token, expires = self._token
        if time.time() > expires - 60:
            token = await self._sign(
                subject="service:auth", roles=["service"], scope="", seconds=SERVICE_TOKEN_SECONDS
            )
            self._token = (token, time.time() + SERVICE_TOKEN_SECONDS)
        return (("authorization", f"Bearer {token}"),)

    async def _ask(
        self, call: Callable[..., Awaitable[Reply]], request: Message, metadata: Metadata
    ) -> Reply:
        """A call that may be refused: ``AccountRefused`` then, ``AccountsUnavailable`` on our side."""
        try:
            return await call(request, metadata=metadata, timeout=CALL_TIMEOUT_SECONDS)
        except grpc.aio.AioRpcError as error:
            if error.code() in _REFUSALS:
                raise AccountRefused(_reason(error), _problems(error)) from error
            raise AccountsUnavailable(f"{error.code().name}: {error.details()}") from error

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
        return VerifiedAccount(
            user_id=reply.user_id,
            totp_required=reply.totp_required,
            email=reply.email,
            language=reply.language or "id",
            email_verified=reply.email_verified,
        )

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

    async def sign_up(self, *, email: str, name: str, password: str, language: str, attempt: str) -> None:
        """Create an account and mail its verification link; a repeated ``attempt`` is answered once."""
        metadata = await self._metadata()
        if attempt:
            metadata += (("idempotency-key", f"account-page:{attempt}"),)
        request = user_pb2.SignUpRequest(email=email, name=name, password=password, language=language)
        await self._ask(self._stub().SignUp, request, metadata)

    async def verify_email(self, *, token: str) -> str:
        """Verify the address of the token's account; the address."""
        request = user_pb2.VerifyEmailRequest(token=token)
        reply = await self._ask(self._stub().VerifyEmail, request, await self._metadata())
        return reply.user.email

    async def resend_verification(self, *, user_id: str) -> None:
        """Mail the account a new verification link, acting for the account (it proved its password)."""
        token = await self._sign(subject=user_id, roles=["buyer"], scope="account", seconds=ON_BEHALF_SECONDS)
        request = user_pb2.ResendVerificationRequest(user_id=user_id)
        await self._ask(self._stub().ResendVerification, request, (("authorization", f"Bearer {token}"),))

    async def request_password_reset(self, *, email: str) -> None:
        """Mail a reset link if an account has ``email``."""
        request = user_pb2.RequestPasswordResetRequest(email=email)
        await self._ask(self._stub().RequestPasswordReset, request, await self._metadata())

    async def reset_password(self, *, token: str, new_password: str) -> None:
        """Set a new password with a reset token."""
        request = user_pb2.ResetPasswordRequest(token=token, new_password=new_password)
        await self._ask(self._stub().ResetPassword, request, await self._metadata())

    async def close(self) -> None:
        """Close the channel."""
        if self._channel is not None:
            await self._channel.close()


def _status(error: grpc.aio.AioRpcError) -> status_pb2.Status | None:
    """The ``google.rpc.Status`` a failed call carries, if any."""
    for key, value in error.trailing_metadata() or ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return None


def _reason(error: grpc.aio.AioRpcError) -> str:
    """The ``ErrorInfo.reason`` of a failed call, or ""."""
    status = _status(error)
    for detail in status.details if status is not None else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return str(info.reason)
    return ""


def _problems(error: grpc.aio.AioRpcError) -> list[FieldProblem]:
    """The ``BadRequest`` field violations of a failed call."""
    status = _status(error)
    found: list[FieldProblem] = []
    for detail in status.details if status is not None else ():
        bad_request = error_details_pb2.BadRequest()
        if detail.Unpack(bad_request):
            found += [FieldProblem(v.field, v.reason, v.description) for v in bad_request.field_violations]
    return found


def _translate(error: grpc.aio.AioRpcError, refused: type[Exception]) -> Exception:
    # The account's fault (wrong password, unknown or deleted account, bad code) versus ours (the
    # service token refused, the user service down): only the first may be shown as a login failure.
    code = error.code()
    if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT):
        return refused(error.details() or "")
    if code is grpc.StatusCode.UNAUTHENTICATED and _reason(error) in ACCOUNT_REASONS:
        return refused(error.details() or "")
    return AccountsUnavailable(f"{code.name}: {error.details()}")
