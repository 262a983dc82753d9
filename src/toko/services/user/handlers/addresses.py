"""The address book: at most 20 addresses, exactly one of them the default once there is any."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

from toko.platform.auth import Principal
from toko.platform.errors import FailedPrecondition, NotFound
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import Page, PageSpec, bad_page_token, decode_token, encode_token
from toko.platform.validation import ruled
from toko.services.user import domain
from toko.services.user.domain import MAX_ADDRESSES, Address, AddressFields
from toko.services.user.error_codes import ErrorCode
from toko.services.user.handlers.common import (
    SOURCE,
    Users,
    account_id,
    live_user,
)
from toko.services.user.mapping import address_to_proto
from toko.services.user.repository.accounts import AccountRepository
from toko.services.user.repository.addresses import AddressRepository
from toko.user.v1 import user_pb2 as pb

ADDRESS_PAGES = PageSpec(default=20, maximum=50)
CREATE_ADDRESS_OPERATION = "user.CreateAddress"


@dataclass(frozen=True)
class UpdateAddress:
    """Change the fields of an address named in ``mask``."""

    user_id: str
    address_id: str
    changes: AddressFields
    mask: tuple[str, ...]


async def create_address(
    *, users: Users, user_id: str, fields: AddressFields, principal: Principal, idempotency_key: str = ""
) -> pb.Address:
    """Add an address; the first one becomes the default. A retry with the same key gets the first answer."""
    target = account_id(principal, user_id, sub_resource=True)
    checked = ruled(partial(domain.check_address, fields))
    now = users.clock()
    async with users.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation=CREATE_ADDRESS_OPERATION,
            caller=principal.subject,
            key=idempotency_key,
            command=[target, checked],
        ) as replay:
            if replay.stored is not None:
                return pb.Address.FromString(replay.stored)
            repository = AddressRepository(uow.session)
            # The account's row lock serializes its address writes: the cap and the default stay exact.
            await live_user(AccountRepository(uow.session), target, for_update=True)
            count = await repository.count_addresses(target)
            if count >= MAX_ADDRESSES:
                raise FailedPrecondition(
                    ErrorCode.ADDRESS_LIMIT_REACHED,
                    f"an address book holds at most {MAX_ADDRESSES} addresses",
                )
            address = Address(
                id=new_id(),
                user_id=target,
                fields=checked,
                is_default=count == 0,
                created_at=now,
                updated_at=now,
            )
            await repository.add_address(address)
            message = address_to_proto(address)
            replay.response = message
        await uow.commit()
    return message


async def list_addresses(
    *, users: Users, user_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[pb.Address]:
    """The address book, the default first, then newest first."""
    target = account_id(principal, user_id, sub_resource=True)
    size = ADDRESS_PAGES.size(page_size)
    filters = [target]
    key = decode_token(page_token, filters, 2)
    after: tuple[int, str] | None = None
    if key is not None:
        rank, last = key
        if not isinstance(rank, int) or not isinstance(last, str) or not is_id(last):
            raise bad_page_token()
        after = (rank, last)
    async with users.database.sessions() as session:
        found = await AddressRepository(session).list_addresses(target, after=after, limit=size + 1)
    token = ""
    if len(found) > size:
        last_seen = found[size - 1]
        token = encode_token([0 if last_seen.is_default else 1, last_seen.id], filters)
    return Page([address_to_proto(a) for a in found[:size]], token)


async def get_address(*, users: Users, user_id: str, address_id: str, principal: Principal) -> pb.Address:
    """One address of the address book."""
    target = account_id(principal, user_id, sub_resource=True)
    require_id(address_id, "address_id")
    async with users.database.sessions() as session:
        address = await AddressRepository(session).get_address(target, address_id)
    if address is None:
        raise _not_found(address_id)
    return address_to_proto(address)


async def update_address(*, users: Users, command: UpdateAddress, principal: Principal) -> pb.Address:
    """Change the masked fields of an address."""
    target = account_id(principal, command.user_id, sub_resource=True)
    require_id(command.address_id, "address.id")
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AddressRepository(uow.session)
        current = await repository.get_address(target, command.address_id)
        if current is None:
            raise _not_found(command.address_id)
        merged = ruled(partial(domain.merge_address, current.fields, command.changes, command.mask))
        checked = ruled(partial(domain.check_address, merged))
        if checked == current.fields:
            return address_to_proto(current)
        updated = replace(current, fields=checked, updated_at=users.clock())
        await repository.save_address(updated)
        await uow.commit()
    return address_to_proto(updated)


async def delete_address(*, users: Users, user_id: str, address_id: str, principal: Principal) -> None:
    """Remove an address; when it was the default, the newest remaining one becomes the default."""
    target = account_id(principal, user_id, sub_resource=True)
    require_id(address_id, "address_id")
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AddressRepository(uow.session)
        await live_user(AccountRepository(uow.session), target, for_update=True)
        deleted = await repository.delete_address(target, address_id)
        if deleted is None:
            raise _not_found(address_id)
        if deleted.is_default:
            await repository.set_default_address(target, None)
        await uow.commit()


async def set_default_address(
    *, users: Users, user_id: str, address_id: str, principal: Principal
) -> pb.Address:
    """Make an address the default one."""
    target = account_id(principal, user_id, sub_resource=True)
    require_id(address_id, "address_id")
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = AddressRepository(uow.session)
        await live_user(AccountRepository(uow.session), target, for_update=True)
        address = await repository.get_address(target, address_id)
        if address is None:
            raise _not_found(address_id)
        if not address.is_default:
            await repository.set_default_address(target, address_id)
            address = replace(address, is_default=True)
            await uow.commit()
    return address_to_proto(address)


def _not_found(address_id: str) -> NotFound:
    return NotFound(ErrorCode.ADDRESS_NOT_FOUND, f"no address {address_id}")
