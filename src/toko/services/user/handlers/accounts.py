"""Accounts: sign-up, email verification, passwords, profile, deletion, roles, and sign-in checks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    Unauthenticated,
)
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.rules import ValidationFailed, Violation, collect
from toko.platform.validation import invalid, ruled
from toko.services.user import domain
from toko.services.user.domain import GRANTABLE_ROLES, PROFILE_UPDATABLE_FIELDS, Role, User
from toko.services.user.error_codes import ErrorCode
from toko.services.user.handlers.common import (
    SOURCE,
    Users,
    account_id,
    check_mask,
    live_user,
    roles_changed,
)
from toko.services.user.mapping import timestamp, user_to_proto
from toko.services.user.repository.account_tokens import AccountTokenRepository
from toko.services.user.repository.accounts import AccountRepository
from toko.services.user.repository.shops import ShopRepository
from toko.services.user.tokens import TokenPurpose, new_token, token_digest
from toko.user.v1 import events_pb2
from toko.user.v1 import user_pb2 as pb

SIGN_UP_OPERATION = "user.SignUp"
# The account pages of the auth service, on the gateway's origin (the JSON routes stay for API clients).
VERIFY_EMAIL_PATH = "/account/verify-email"
RESET_PASSWORD_PATH = "/account/reset-password"  # noqa: S105 - a path


@dataclass(frozen=True)
class SignUp:
    """Create an account."""

    email: str
    password: str
    name: str
    phone: str = ""
    # "id" or "en"; empty is Indonesian.
    language: str = ""
    # Only the demo seed sets these: its accounts are created verified, admins as admins.
    email_verified: bool = False
    is_admin: bool = False


@dataclass(frozen=True)
class UpdateProfile:
    """Change the profile fields named in ``mask``."""

    user_id: str
    mask: tuple[str, ...]
    name: str = ""
    phone: str = ""
    birth_date: str = ""
    avatar_url: str = ""
    language: str = ""


def _link(base_url: str, path: str, token: str, language: str) -> str:
    # The page opens in the account's language.
    return f"{base_url.rstrip('/')}{path}?{urlencode({'token': token, 'lang': language})}"


async def _request_verification(users: Users, uow: UnitOfWork, user: User, now: datetime) -> None:
    token = new_token()
    expires = now + users.verification_ttl
    await AccountTokenRepository(uow.session).add_token(
        digest=token_digest(token),
        user_id=user.id,
        purpose=TokenPurpose.VERIFY_EMAIL,
        expires_at=expires,
        now=now,
    )
    uow.publish(
        events_pb2.EmailVerificationRequested(
            user_id=user.id,
            email=user.email,
            verification_url=_link(users.links_base_url, VERIFY_EMAIL_PATH, token, user.language),
            expire_time=timestamp(expires),
            language=user.language,
            name=user.name,
        ),
        subject=user.id,
    )


# --- sign-up and verification -------------------------------------------------------------------------------


async def sign_up(
    *, users: Users, command: SignUp, principal: Principal, idempotency_key: str = "", user_id: str = ""
) -> pb.User:
    """Create an account and mail its verification link; a retry with the same key gets the first answer."""
    email = ""

    def check_email() -> None:
        nonlocal email
        email = domain.normalise_email(command.email)

    phone = ""

    def check_phone() -> None:
        nonlocal phone
        phone = domain.normalise_phone(command.phone) if command.phone.strip() else ""

    name, name_problems = domain.check_name(command.name)
    language, language_problems = domain.check_language(command.language)
    problems = [*collect(check_email), *name_problems, *collect(check_phone), *language_problems]
    problems += users.policy.problems(command.password, email=email)
    if problems:
        raise invalid(problems)
    password_hash = await users.hash_password(command.password)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation=SIGN_UP_OPERATION,
            caller=principal.subject or "anonymous",
            key=idempotency_key,
            command=(email, name, phone, language),
        ) as replay:
            if replay.stored is not None:
                return pb.User.FromString(replay.stored)
            user = User(
                id=user_id or new_id(),
                email=email,
                email_verified=command.email_verified,
                name=name,
                phone=phone,
                birth_date=None,
                avatar_url="",
                is_admin=command.is_admin,
                shop_id=None,
                totp_enabled=False,
                created_at=now,
                updated_at=now,
                language=language,
            )
            if not await AccountRepository(uow.session).add_user(user, password_hash):
                raise AlreadyExists(
                    ErrorCode.EMAIL_TAKEN,
                    "an account with this email address exists already",
                    [FieldViolation("email", "is already registered", ErrorCode.EMAIL_TAKEN)],
                )
            uow.publish(events_pb2.UserSignedUp(user_id=user.id, email=user.email), subject=user.id)
            if not user.email_verified:
                await _request_verification(users, uow, user, now)
            message = user_to_proto(user)
            replay.response = message
        await uow.commit()
    return message


async def verify_email(*, users: Users, token: str) -> pb.User:
    """Mark the address of the token's account verified.

    The token works once; presented again before it expires (a second click, or a mail scanner
    that fetched the link first) it still answers with the account while its address is verified.
    """
    now = users.clock()
    digest = token_digest(token)
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        account_tokens = AccountTokenRepository(uow.session)
        owner = await account_tokens.use_token(digest=digest, purpose=TokenPurpose.VERIFY_EMAIL, now=now)
        if owner is None:
            used_by = await account_tokens.used_token_owner(
                digest=digest, purpose=TokenPurpose.VERIFY_EMAIL, now=now
            )
            verified = await repository.get_user(used_by) if used_by else None
            if verified is None or not verified.email_verified:
                raise _invalid_token()
            return user_to_proto(verified)
        user = await repository.get_user(owner, for_update=True)
        if user is None:
            raise _invalid_token()
        if not user.email_verified:
            await repository.update_user(user.id, email_verified=True, updated_at=now)
            user = replace(user, email_verified=True, updated_at=now)
            uow.publish(events_pb2.EmailVerified(user_id=user.id), subject=user.id)
        await uow.commit()
    return user_to_proto(user)


async def resend_verification(*, users: Users, user_id: str, principal: Principal) -> None:
    """Mail a new verification link; the earlier ones stop working."""
    target = account_id(principal, user_id)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        account_tokens = AccountTokenRepository(uow.session)
        user = await live_user(repository, target, for_update=True)
        if user.email_verified:
            raise FailedPrecondition(
                ErrorCode.EMAIL_ALREADY_VERIFIED, "the email address is verified already"
            )
        await account_tokens.void_tokens(user_id=user.id, purpose=TokenPurpose.VERIFY_EMAIL, now=now)
        await _request_verification(users, uow, user, now)
        await uow.commit()


# --- passwords ----------------------------------------------------------------------------------------------


async def request_password_reset(*, users: Users, email: str) -> None:
    """Mail a reset link if an account has ``email``; the caller learns nothing either way."""
    address = ruled(lambda: domain.normalise_email(email)) if email.strip() else ""
    if not address:
        raise InvalidArgument.field("email", "must be an email address", ErrorCode.INVALID_EMAIL)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        account_tokens = AccountTokenRepository(uow.session)
        found = await repository.get_credentials(address)
        if found is None:
            return
        token = new_token()
        expires = now + users.reset_ttl
        await account_tokens.add_token(
            digest=token_digest(token),
            user_id=found.user.id,
            purpose=TokenPurpose.RESET_PASSWORD,
            expires_at=expires,
            now=now,
        )
        uow.publish(
            events_pb2.PasswordResetRequested(
                user_id=found.user.id,
                email=found.user.email,
                reset_url=_link(users.links_base_url, RESET_PASSWORD_PATH, token, found.user.language),
                expire_time=timestamp(expires),
                language=found.user.language,
                name=found.user.name,
            ),
            subject=found.user.id,
        )
        await uow.commit()


async def reset_password(*, users: Users, token: str, new_password: str) -> None:
    """Set a new password with a reset token; the token and every other outstanding one stop working."""
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        account_tokens = AccountTokenRepository(uow.session)
        owner = await account_tokens.use_token(
            digest=token_digest(token), purpose=TokenPurpose.RESET_PASSWORD, now=now
        )
        user = await repository.get_user(owner, for_update=True) if owner else None
        if user is None:
            raise _invalid_token()
        problems = users.policy.problems(new_password, email=user.email, path="new_password")
        if problems:
            # Nothing is committed, so the token still works with a better password.
            raise invalid(problems)
        await repository.set_password_hash(user.id, await users.hash_password(new_password), now)
        await account_tokens.void_tokens(user_id=user.id, purpose=TokenPurpose.RESET_PASSWORD, now=now)
        uow.publish(events_pb2.PasswordChanged(user_id=user.id), subject=user.id)
        await uow.commit()


async def change_password(
    *, users: Users, user_id: str, current_password: str, new_password: str, principal: Principal
) -> None:
    """Replace the password given the current one; the account's sessions elsewhere are revoked."""
    target = account_id(principal, user_id)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        account_tokens = AccountTokenRepository(uow.session)
        user = await live_user(repository, target, for_update=True)
        if not await users.verify_password(await repository.password_hash_of(user.id), current_password):
            raise InvalidArgument.field(
                "current_password", "is not the account's password", ErrorCode.WRONG_PASSWORD
            )
        problems = users.policy.problems(new_password, email=user.email, path="new_password")
        if problems:
            raise invalid(problems)
        await repository.set_password_hash(user.id, await users.hash_password(new_password), now)
        await account_tokens.void_tokens(user_id=user.id, purpose=TokenPurpose.RESET_PASSWORD, now=now)
        uow.publish(events_pb2.PasswordChanged(user_id=user.id), subject=user.id)
        await uow.commit()


# --- profile ------------------------------------------------------------------------------------------------


async def get_user(*, users: Users, user_id: str, principal: Principal) -> pb.User:
    """An account's profile."""
    target = account_id(principal, user_id)
    async with users.database.sessions() as session:
        return user_to_proto(await live_user(AccountRepository(session), target))


async def update_user(*, users: Users, command: UpdateProfile, principal: Principal) -> pb.User:
    """Change the masked profile fields; no change, no write."""
    target = account_id(principal, command.user_id, path="user.id")
    mask = check_mask(command.mask, PROFILE_UPDATABLE_FIELDS)
    values: dict[str, object] = {}
    problems: list[Violation] = []
    if "name" in mask:
        values["name"], found = domain.check_name(command.name, "user.name")
        problems += found
    if "phone" in mask:

        def phone() -> None:
            values["phone"] = (
                domain.normalise_phone(command.phone, "user.phone") if command.phone.strip() else ""
            )

        problems += collect(phone)
    if "birth_date" in mask:

        def birth_date() -> None:
            values["birth_date"] = domain.parse_birth_date(
                command.birth_date, today=users.clock().date(), path="user.birth_date"
            )

        problems += collect(birth_date)
    if "avatar_url" in mask:
        values["avatar_url"], found = domain.check_avatar_url(command.avatar_url, "user.avatar_url")
        problems += found
    if "language" in mask:
        values["language"], found = domain.check_language(command.language, "user.language")
        problems += found
    if problems:
        raise invalid(problems)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        user = await live_user(repository, target, for_update=True)
        changed = {name: value for name, value in values.items() if getattr(user, name) != value}
        if not changed:
            return user_to_proto(user)
        await repository.update_user(user.id, updated_at=now, **changed)
        user = replace(user, updated_at=now, **changed)  # type: ignore[arg-type]
        await uow.commit()
    return user_to_proto(user)


async def delete_user(*, users: Users, user_id: str, principal: Principal) -> None:
    """Wipe an account's personal data and free its email address; its id stays for order history."""
    target = account_id(principal, user_id)
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        user = await live_user(repository, target, for_update=True)
        if user.shop_id:
            shop = await ShopRepository(uow.session).get_shop(user.shop_id)
            if shop is not None and shop.owner_id == user.id:
                raise FailedPrecondition(
                    ErrorCode.SHOP_STILL_OPEN, "close or transfer your shop before deleting the account"
                )
        await repository.anonymise_user(user.id, now)
        uow.publish(events_pb2.UserDeleted(user_id=user.id), subject=user.id)
        await uow.commit()


# --- roles --------------------------------------------------------------------------------------------------


async def set_role(*, users: Users, user_id: str, role: str, granted: bool, principal: Principal) -> pb.User:
    """Grant or revoke a role given by hand (admin); a change raises UserRolesChanged."""
    target = require_id(user_id, "user_id")
    if role not in GRANTABLE_ROLES:
        raise InvalidArgument.field(
            "role", f"only {', '.join(sorted(GRANTABLE_ROLES))} is granted by hand", ErrorCode.INVALID_ROLE
        )
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AccountRepository(uow.session)
        user = await live_user(repository, target, for_update=True)
        if role == Role.ADMIN and user.is_admin != granted:
            now = users.clock()
            await repository.update_user(user.id, is_admin=granted, updated_at=now)
            user = replace(user, is_admin=granted, updated_at=now)
            roles_changed(uow, user)
            await uow.commit()
    return user_to_proto(user)


# --- internal: sign-in checks for the auth service ----------------------------------------------------------


async def verify_credentials(*, users: Users, email: str, password: str) -> pb.VerifyCredentialsResponse:
    """The account ``email`` and ``password`` sign in to; the same failure, after the same work, otherwise."""
    try:
        address = domain.normalise_email(email)
    except ValidationFailed:
        address = ""
    async with users.database.sessions() as session:
        found = await AccountRepository(session).get_credentials(address) if address else None
    stored_hash = found.password_hash if found else None
    if not await users.verify_password(stored_hash, password) or found is None or stored_hash is None:
        raise Unauthenticated(ErrorCode.INVALID_CREDENTIALS, "the email address or password is wrong")
    user = found.user
    if users.hashing.needs_rehash(stored_hash):
        # Parameters were raised since this hash was made: upgrade it while we know the password.
        new_hash = await users.hash_password(password)
        async with users.database.unit_of_work(SOURCE) as uow:
            await AccountRepository(uow.session).update_user(user.id, password_hash=new_hash)
            await uow.commit()
    return pb.VerifyCredentialsResponse(
        user_id=user.id,
        roles=user.roles,
        shop_id=user.shop_id or "",
        email_verified=user.email_verified,
        totp_required=user.totp_enabled,
        email=user.email,
        language=user.language,
    )


async def get_user_claims(*, users: Users, user_id: str) -> pb.GetUserClaimsResponse:
    """What tokens say about an account."""
    if not is_id(user_id):
        raise InvalidArgument.field("user_id", "must be a UUID", ErrorCode.INVALID_ID)
    async with users.database.sessions() as session:
        user = await live_user(AccountRepository(session), user_id)
    return pb.GetUserClaimsResponse(
        user_id=user.id,
        email=user.email,
        email_verified=user.email_verified,
        name=user.name,
        phone=user.phone,
        roles=user.roles,
        shop_id=user.shop_id or "",
    )


def _invalid_token() -> InvalidArgument:
    return InvalidArgument.field("token", "is unknown, used already, or expired", ErrorCode.INVALID_TOKEN)
