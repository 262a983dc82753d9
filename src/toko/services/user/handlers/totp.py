"""The TOTP second factor (RFC 6238, via pyotp) and its one-time recovery codes.

Enrolment is two steps: ``enroll`` stores a new secret as pending and shows it
once; ``confirm`` proves the authenticator app has it and turns the factor on.
A code is accepted one step either side of now (clock drift), and never twice:
the last step used is stored, and a code of that step or an earlier one is
refused. Recovery codes are stored as SHA-256 digests and work once each.

The secret is stored sealed (``toko.platform.secrets``, bound to the account's
id) under the user service's master secret, which never enters the database: a
dump of the database alone cannot mint codes. Secrets stored in the clear by an
earlier version are sealed when the service starts (``seal_stored_secrets``).
"""

from __future__ import annotations

import base64
import hmac
import io
from datetime import datetime

import pyotp
import segno

from toko.platform.auth import Principal
from toko.platform.db import Database
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    DomainError,
    FailedPrecondition,
    InvalidArgument,
    PermissionDenied,
    Unauthenticated,
)
from toko.platform.ids import is_id
from toko.platform.secrets import Sealer
from toko.services.user.domain import Role
from toko.services.user.error_codes import ErrorCode
from toko.services.user.handlers.common import SOURCE, Users, account_id, live_user
from toko.services.user.repository.accounts import AccountRepository
from toko.services.user.repository.totp import TotpRepository
from toko.services.user.tokens import new_recovery_codes, normalise_recovery_code, token_digest
from toko.user.v1 import user_pb2 as pb

ISSUER = "toko"
# Marks a stored secret as sealed; anything else in the column is a secret stored in the clear.
SEALED_PREFIX = "sealed:"
# One step (30 s) either side of now: the clock drift RFC 6238 recommends tolerating.
VALID_WINDOW = 1


def seal_secret(sealer: Sealer, user_id: str, secret: str) -> str:
    """The stored form of an account's TOTP secret."""
    return SEALED_PREFIX + base64.urlsafe_b64encode(sealer.seal(user_id, secret.encode())).decode()


def open_secret(sealer: Sealer, user_id: str, stored: str) -> str:
    """The TOTP secret from its stored form (one stored in the clear is returned as it is)."""
    if not stored.startswith(SEALED_PREFIX):
        return stored
    return sealer.open(user_id, base64.urlsafe_b64decode(stored[len(SEALED_PREFIX) :])).decode()


async def seal_stored_secrets(database: Database, sealer: Sealer) -> int:
    """Seal every secret still stored in the clear; returns how many. Run at start; safe to repeat."""
    async with database.unit_of_work(SOURCE) as uow:
        accounts = AccountRepository(uow.session)
        clear = await TotpRepository(uow.session).unsealed_totp_secrets(SEALED_PREFIX)
        for user_id, secret in clear:
            await accounts.update_user(user_id, totp_secret=seal_secret(sealer, user_id, secret))
        await uow.commit()
    return len(clear)


def matching_step(secret: str, code: str, now: datetime, *, after: int) -> int | None:
    """The time step whose code is ``code`` within the window, if it is later than ``after``."""
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


async def enroll(*, users: Users, user_id: str, principal: Principal) -> pb.EnrollTotpResponse:
    """Store a new pending secret and show it (with its otpauth URI and QR code) this once."""
    target = account_id(principal, user_id)
    async with users.database.unit_of_work(SOURCE) as uow:
        accounts = AccountRepository(uow.session)
        user = await live_user(accounts, target, for_update=True)
        if not ({Role.SELLER.value, Role.ADMIN.value} & set(user.roles)):
            raise PermissionDenied(CommonReason.ROLE_REQUIRED, "a second factor is for sellers and admins")
        if user.totp_enabled:
            raise FailedPrecondition(
                ErrorCode.TOTP_ALREADY_ENABLED, "a second factor is on already; disable it first"
            )
        secret = pyotp.random_base32()
        await accounts.update_user(
            user.id, totp_secret=seal_secret(users.sealer, user.id, secret), totp_last_step=0
        )
        await uow.commit()
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)
    svg = io.BytesIO()
    segno.make(uri, error="m").save(svg, kind="svg", scale=4, xmldecl=False)
    return pb.EnrollTotpResponse(secret=secret, otpauth_uri=uri, qr_svg=svg.getvalue().decode())


async def confirm(*, users: Users, user_id: str, code: str, principal: Principal) -> list[str]:
    """Turn the factor on given a current code; the ten recovery codes, shown this once."""
    target = account_id(principal, user_id)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        factors = TotpRepository(uow.session)
        state = await factors.totp_state(target, for_update=True)
        if state is None or state.secret is None:
            raise FailedPrecondition(ErrorCode.TOTP_NOT_ENROLLED, "enrol first (EnrollTotp)")
        if state.enabled:
            raise FailedPrecondition(ErrorCode.TOTP_ALREADY_ENABLED, "the second factor is on already")
        secret = open_secret(users.sealer, target, state.secret)
        step = matching_step(secret, code.strip(), now, after=state.last_step)
        if step is None:
            raise InvalidArgument.field("code", "is not the current code", ErrorCode.INVALID_TOTP_CODE)
        codes = new_recovery_codes()
        await AccountRepository(uow.session).update_user(
            target, totp_enabled=True, totp_last_step=step, updated_at=now
        )
        await factors.replace_recovery_codes(target, [token_digest(c) for c in codes])
        await uow.commit()
    return codes


async def disable(*, users: Users, user_id: str, code: str, principal: Principal) -> None:
    """Turn the factor off given a current code or an unused recovery code."""
    target = account_id(principal, user_id)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        accounts = AccountRepository(uow.session)
        factors = TotpRepository(uow.session)
        if not await _second_factor_holds(
            accounts, factors, sealer=users.sealer, user_id=target, code=code, now=now
        ):
            raise InvalidArgument.field(
                "code", "is not a current code or unused recovery code", ErrorCode.INVALID_TOTP_CODE
            )
        await accounts.update_user(
            target, totp_secret=None, totp_enabled=False, totp_last_step=0, updated_at=now
        )
        await factors.replace_recovery_codes(target, [])
        await uow.commit()


async def verify_second_factor(*, users: Users, user_id: str, code: str) -> None:
    """Accept a current, unused TOTP code or consume a recovery code; UNAUTHENTICATED otherwise."""
    refused = Unauthenticated(ErrorCode.INVALID_SECOND_FACTOR, "the code is wrong, expired or used already")
    if not is_id(user_id):
        raise refused
    async with users.database.unit_of_work(SOURCE) as uow:
        try:
            holds = await _second_factor_holds(
                AccountRepository(uow.session),
                TotpRepository(uow.session),
                sealer=users.sealer,
                user_id=user_id,
                code=code,
                now=users.clock(),
            )
        except DomainError as exc:
            # No account or no factor: the same answer as a wrong code.
            raise refused from exc
        if not holds:
            raise refused
        await uow.commit()


async def _second_factor_holds(
    accounts: AccountRepository,
    factors: TotpRepository,
    *,
    sealer: Sealer,
    user_id: str,
    code: str,
    now: datetime,
) -> bool:
    """Whether ``code`` is good for the account's enabled factor; uses it up (in the caller's transaction)."""
    state = await factors.totp_state(user_id, for_update=True)
    if state is None or not state.enabled or state.secret is None:
        if state is None:
            await live_user(accounts, user_id)
        raise FailedPrecondition(ErrorCode.TOTP_NOT_ENABLED, "the second factor is off")
    step = matching_step(open_secret(sealer, user_id, state.secret), code.strip(), now, after=state.last_step)
    if step is not None:
        await accounts.update_user(user_id, totp_last_step=step)
        return True
    recovery = normalise_recovery_code(code)
    return bool(recovery) and await factors.use_recovery_code(user_id, token_digest(recovery), now)
