"""What the user service's use cases share: dependencies, who is asking, update masks, the roles event."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.errors import InvalidArgument, NotFound, PermissionDenied
from toko.platform.ids import is_id, require_id
from toko.platform.secrets import Sealer
from toko.services.user.domain import User
from toko.services.user.error_codes import ErrorCode
from toko.services.user.passwords import PasswordHashing, PasswordPolicy
from toko.services.user.repository.accounts import AccountRepository
from toko.user.v1 import events_pb2

SOURCE = "user"
ME = "me"


@dataclass(frozen=True)
class Users:
    """What the use cases work with: the database, password hashing and policy, sealing, links, a clock."""

    database: Database
    hashing: PasswordHashing
    # Seals TOTP secrets at rest (see ``totp``).
    sealer: Sealer
    policy: PasswordPolicy = field(default_factory=PasswordPolicy)
    # Base of the links in verification and reset emails (the gateway's public origin).
    links_base_url: str = "http://127.0.0.1:8080"
    verification_ttl: timedelta = timedelta(hours=24)
    reset_ttl: timedelta = timedelta(hours=1)
    clock: Clock = field(default=utcnow)

    async def hash_password(self, password: str) -> str:
        """Hash off the event loop: argon2id is deliberately slow."""
        return await asyncio.to_thread(self.hashing.hash, password)

    async def verify_password(self, stored_hash: str | None, password: str) -> bool:
        """Verify off the event loop; a missing hash costs the same work as a real one and fails."""
        matched = await asyncio.to_thread(
            self.hashing.verify, stored_hash or self.hashing.dummy_hash, password
        )
        return matched and stored_hash is not None


def account_id(
    principal: Principal, user_id: str, *, path: str = "user_id", sub_resource: bool = False
) -> str:
    """The account a request is about (``me`` is the caller), if the caller may reach it.

    Another account itself is refused (PERMISSION_DENIED); another account's addresses,
    wishlist and the like are reported as not found, so their ids cannot be probed.
    """
    target = principal.subject if user_id == ME else user_id
    if not is_id(target):
        if user_id == ME:
            raise PermissionDenied(
                ErrorCode.NOT_YOUR_ACCOUNT, "'me' names a user account; this caller is none"
            )
        raise InvalidArgument.field(path, "must be a UUID or 'me'", ErrorCode.INVALID_ID)
    if target != principal.subject and not principal.is_admin:
        if sub_resource:
            raise NotFound(ErrorCode.USER_NOT_FOUND, f"no user {target}")
        raise PermissionDenied(ErrorCode.NOT_YOUR_ACCOUNT, "you may only reach your own account")
    return target


async def live_user(repository: AccountRepository, user_id: str, *, for_update: bool = False) -> User:
    """A live account, or NOT_FOUND (deleted accounts are gone for everyone)."""
    user = await repository.get_user(user_id, for_update=for_update)
    if user is None:
        raise NotFound(ErrorCode.USER_NOT_FOUND, f"no user {user_id}")
    return user


def roles_changed(uow: UnitOfWork, user: User) -> None:
    """Raise ``UserRolesChanged`` with the account's roles and shop as they now are."""
    uow.publish(
        events_pb2.UserRolesChanged(user_id=user.id, roles=user.roles, shop_id=user.shop_id or ""),
        subject=user.id,
    )


def optional_id(value: str, path: str) -> str | None:
    """None for an empty value, else ``require_id``."""
    return require_id(value, path) if value else None


def check_mask(mask: Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    """The update mask, when it names only fields that may change."""
    unknown = [name for name in mask if name not in allowed]
    if unknown or not mask:
        raise InvalidArgument.field(
            "update_mask",
            f"name some of: {', '.join(allowed)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""),
            ErrorCode.INVALID_UPDATE_MASK,
        )
    return tuple(dict.fromkeys(mask))
