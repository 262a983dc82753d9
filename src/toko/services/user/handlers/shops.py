"""Shops: opening, changing, closing and transferring them, and their staff.

An account owns at most one open shop, or works for one as staff, never both:
``users.shop_id`` names that shop and makes the account a seller. Only the
owner (or an admin) manages a shop, checked against the database rather than
the token's claims, which may be up to fifteen minutes old. Every change of an
account's roles or shop raises ``UserRolesChanged``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    FieldViolation,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import Page, PageSpec, encode_token, id_after
from toko.platform.validation import ruled
from toko.services.user import domain
from toko.services.user.domain import (
    MAX_SHOP_STAFF,
    SHOP_UPDATABLE_FIELDS,
    Shop,
    ShopFields,
    ShopStatus,
    User,
)
from toko.services.user.error_codes import ErrorCode
from toko.services.user.handlers.common import (
    SOURCE,
    Users,
    check_mask,
    live_user,
    roles_changed,
)
from toko.services.user.mapping import shop_to_proto, staff_to_proto, timestamp
from toko.services.user.repository.accounts import AccountRepository
from toko.services.user.repository.shops import ShopRepository
from toko.user.v1 import events_pb2
from toko.user.v1 import user_pb2 as pb

SHOP_PAGES = PageSpec(default=20, maximum=100)
STAFF_PAGES = PageSpec(default=20, maximum=50)
OPEN_SHOP_OPERATION = "user.OpenShop"


@dataclass(frozen=True)
class OpenShop:
    """Open a shop owned by the caller."""

    name: str
    domain: str
    description: str
    origin_city: str
    # Only the demo seed sets it: demo shops have ids every service derives from their domain.
    shop_id: str = ""


@dataclass(frozen=True)
class UpdateShop:
    """Change the fields of a shop named in ``mask``."""

    shop_id: str
    changes: ShopFields
    mask: tuple[str, ...]


async def open_shop(
    *, users: Users, command: OpenShop, principal: Principal, idempotency_key: str = ""
) -> pb.Shop:
    """Open a shop owned by the caller, now a seller; a retry with the same key gets the first answer."""
    owner_id = _caller(principal)
    fields = ruled(
        partial(
            domain.check_shop,
            ShopFields(
                name=command.name,
                description=command.description,
                origin_city=command.origin_city,
                domain=command.domain,
            ),
            names=("name", "description", "origin_city", "domain"),
        )
    )
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session, operation=OPEN_SHOP_OPERATION, caller=owner_id, key=idempotency_key, command=fields
        ) as replay:
            if replay.stored is not None:
                return pb.Shop.FromString(replay.stored)
            repository = ShopRepository(uow.session)
            accounts = AccountRepository(uow.session)
            owner = await live_user(accounts, owner_id, for_update=True)
            if not owner.email_verified:
                raise FailedPrecondition(
                    ErrorCode.EMAIL_NOT_VERIFIED, "verify your email address before opening a shop"
                )
            await _require_free(repository, owner, path="")
            shop = Shop(
                id=command.shop_id or new_id(),
                owner_id=owner.id,
                name=fields.name,
                domain=fields.domain,
                description=fields.description,
                origin_city=fields.origin_city,
                status=ShopStatus.ACTIVE,
                created_at=now,
                updated_at=now,
            )
            if not await repository.add_shop(shop):
                raise AlreadyExists(
                    ErrorCode.DOMAIN_TAKEN,
                    f"the shop domain {shop.domain!r} is taken",
                    [FieldViolation("domain", "is taken", ErrorCode.DOMAIN_TAKEN)],
                )
            await _join(uow, accounts, owner, shop.id)
            uow.publish(
                events_pb2.ShopOpened(shop_id=shop.id, owner_id=owner.id, domain=shop.domain), subject=shop.id
            )
            message = shop_to_proto(shop)
            replay.response = message
        await uow.commit()
    return message


async def get_shop(*, users: Users, shop_id: str) -> pb.Shop:
    """A shop by id, closed ones included (order history links to them)."""
    require_id(shop_id, "shop_id")
    async with users.database.sessions() as session:
        shop = await ShopRepository(session).get_shop(shop_id)
    if shop is None:
        raise _shop_not_found(shop_id)
    return shop_to_proto(shop)


async def get_shop_by_domain(*, users: Users, domain_slug: str) -> pb.Shop:
    """A shop by its storefront domain."""
    shop = None
    if not domain.domain_problem(domain_slug):
        async with users.database.sessions() as session:
            shop = await ShopRepository(session).get_shop_by_domain(domain_slug)
    if shop is None:
        raise NotFound(ErrorCode.SHOP_NOT_FOUND, f"no shop at {domain_slug!r}")
    return shop_to_proto(shop)


async def list_shops(*, users: Users, page_size: int = 0, page_token: str = "") -> Page[pb.Shop]:
    """The active shops, oldest first."""
    size = SHOP_PAGES.size(page_size)
    filters = ["active"]
    after = id_after(page_token, filters)
    async with users.database.sessions() as session:
        found = await ShopRepository(session).list_active_shops(after=after, limit=size + 1)
    token = encode_token([found[size - 1].id], filters) if len(found) > size else ""
    return Page([shop_to_proto(s) for s in found[:size]], token)


async def update_shop(*, users: Users, command: UpdateShop, principal: Principal) -> pb.Shop:
    """Change the masked fields of an open shop; no change, no write."""
    require_id(command.shop_id, "shop.id")
    mask = check_mask(command.mask, SHOP_UPDATABLE_FIELDS)
    fields = ruled(partial(domain.check_shop, command.changes, names=mask, prefix="shop."))
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = ShopRepository(uow.session)
        shop = await _managed_shop(repository, command.shop_id, principal)
        updated = replace(shop, **{name: getattr(fields, name) for name in mask})
        if updated == shop:
            return shop_to_proto(shop)
        updated = replace(updated, updated_at=users.clock())
        await repository.save_shop(updated)
        await uow.commit()
    return shop_to_proto(updated)


async def close_shop(*, users: Users, shop_id: str, principal: Principal) -> pb.Shop:
    """Close a shop for good: its owner and staff stop being its sellers; closing twice changes nothing."""
    require_id(shop_id, "shop_id")
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = ShopRepository(uow.session)
        accounts = AccountRepository(uow.session)
        shop = await _managed_shop(repository, shop_id, principal, allow_closed=True)
        if shop.status is ShopStatus.CLOSED:
            return shop_to_proto(shop)
        closed = replace(shop, status=ShopStatus.CLOSED, updated_at=now)
        await repository.save_shop(closed)
        for member_id in await repository.staff_of(shop.id):
            await repository.remove_staff(shop.id, member_id)
            await _leave(uow, accounts, member_id)
        await _leave(uow, accounts, shop.owner_id)
        uow.publish(events_pb2.ShopClosed(shop_id=shop.id), subject=shop.id)
        await uow.commit()
    return shop_to_proto(closed)


async def transfer_shop(*, users: Users, shop_id: str, new_owner_id: str, principal: Principal) -> pb.Shop:
    """Hand a shop to another verified account without a shop (or one of its own staff)."""
    require_id(shop_id, "shop_id")
    require_id(new_owner_id, "new_owner_id")
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = ShopRepository(uow.session)
        accounts = AccountRepository(uow.session)
        shop = await _managed_shop(repository, shop_id, principal)
        if new_owner_id == shop.owner_id:
            raise InvalidArgument.field("new_owner_id", "already owns the shop", ErrorCode.ALREADY_OWNS_SHOP)
        heir = await accounts.get_user(new_owner_id, for_update=True)
        if heir is None:
            raise InvalidArgument.field("new_owner_id", "no such account", ErrorCode.USER_NOT_FOUND)
        if not heir.email_verified:
            raise FailedPrecondition(
                ErrorCode.EMAIL_NOT_VERIFIED, "the new owner must verify their email address first"
            )
        if heir.shop_id == shop.id:
            # One of the shop's own staff takes over: they stop being staff.
            await repository.remove_staff(shop.id, heir.id)
        else:
            await _require_free(repository, heir, path="new_owner_id")
        transferred = replace(shop, owner_id=heir.id, updated_at=now)
        await repository.save_shop(transferred)
        await _leave(uow, accounts, shop.owner_id)
        await _join(uow, accounts, heir, shop.id)
        uow.publish(
            events_pb2.ShopTransferred(shop_id=shop.id, from_owner_id=shop.owner_id, to_owner_id=heir.id),
            subject=shop.id,
        )
        await uow.commit()
    return shop_to_proto(transferred)


async def add_staff(*, users: Users, shop_id: str, user_id: str, principal: Principal) -> pb.ShopStaffMember:
    """Let another account work for the shop as a seller."""
    require_id(shop_id, "shop_id")
    require_id(user_id, "user_id")
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = ShopRepository(uow.session)
        accounts = AccountRepository(uow.session)
        shop = await _managed_shop(repository, shop_id, principal)
        member = await accounts.get_user(user_id, for_update=True)
        if member is None:
            raise InvalidArgument.field("user_id", "no such account", ErrorCode.USER_NOT_FOUND)
        await _require_free(repository, member, path="user_id")
        if len(await repository.staff_of(shop.id)) >= MAX_SHOP_STAFF:
            raise FailedPrecondition(
                ErrorCode.STAFF_LIMIT_REACHED, f"a shop has at most {MAX_SHOP_STAFF} staff"
            )
        await repository.add_staff(shop.id, member.id, now)
        await _join(uow, accounts, member, shop.id)
        await uow.commit()
    return pb.ShopStaffMember(user_id=member.id, name=member.name, create_time=timestamp(now))


async def remove_staff(*, users: Users, shop_id: str, user_id: str, principal: Principal) -> None:
    """Stop an account working for the shop."""
    require_id(shop_id, "shop_id")
    require_id(user_id, "user_id")
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = ShopRepository(uow.session)
        accounts = AccountRepository(uow.session)
        shop = await _managed_shop(repository, shop_id, principal, allow_closed=True)
        if not await repository.remove_staff(shop.id, user_id):
            raise NotFound(ErrorCode.STAFF_NOT_FOUND, f"{user_id} does not work for shop {shop.id}")
        await _leave(uow, accounts, user_id)
        await uow.commit()


async def list_staff(
    *, users: Users, shop_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[pb.ShopStaffMember]:
    """The shop's staff in the order of their ids."""
    require_id(shop_id, "shop_id")
    size = STAFF_PAGES.size(page_size)
    filters = [shop_id]
    after = id_after(page_token, filters)
    async with users.database.sessions() as session:
        repository = ShopRepository(session)
        await _managed_shop(repository, shop_id, principal, allow_closed=True)
        found = await repository.list_staff(shop_id, after=after, limit=size + 1)
    token = encode_token([found[size - 1].user_id], filters) if len(found) > size else ""
    return Page([staff_to_proto(m) for m in found[:size]], token)


# --- helpers ------------------------------------------------------------------------------------------------


def _caller(principal: Principal) -> str:
    if not is_id(principal.subject):
        raise PermissionDenied(ErrorCode.NOT_YOUR_ACCOUNT, "only a user account opens a shop")
    return principal.subject


async def _managed_shop(
    repository: ShopRepository, shop_id: str, principal: Principal, *, allow_closed: bool = False
) -> Shop:
    """The shop, locked, if the caller owns it (or is an admin)."""
    shop = await repository.get_shop(shop_id, for_update=True)
    if shop is None:
        raise _shop_not_found(shop_id)
    if not principal.is_admin and shop.owner_id != principal.subject:
        raise PermissionDenied(ErrorCode.NOT_SHOP_OWNER, f"only the owner of shop {shop_id} manages it")
    if shop.status is ShopStatus.CLOSED and not allow_closed:
        raise FailedPrecondition(ErrorCode.SHOP_CLOSED, f"shop {shop_id} is closed")
    return shop


async def _require_free(repository: ShopRepository, user: User, *, path: str) -> None:
    """Refuse an account that owns or works for a shop already."""
    if not user.shop_id:
        return
    shop = await repository.get_shop(user.shop_id)
    owns = shop is not None and shop.owner_id == user.id
    reason = ErrorCode.ALREADY_OWNS_SHOP if owns else ErrorCode.ALREADY_IN_SHOP
    who = "the account" if path else "you"
    message = f"{who} already {'own(s) a shop' if owns else 'work(s) for a shop'}"
    violations = [FieldViolation(path, message, reason)] if path else []
    raise FailedPrecondition(reason, message, violations)


async def _join(uow: UnitOfWork, accounts: AccountRepository, user: User, shop_id: str) -> None:
    await accounts.update_user(user.id, shop_id=shop_id)
    roles_changed(uow, replace(user, shop_id=shop_id))


async def _leave(uow: UnitOfWork, accounts: AccountRepository, user_id: str) -> None:
    await accounts.update_user(user_id, shop_id=None)
    user = await accounts.get_user(user_id)
    if user is not None:
        roles_changed(uow, user)


def _shop_not_found(shop_id: str) -> NotFound:
    return NotFound(ErrorCode.SHOP_NOT_FOUND, f"no shop {shop_id}")
