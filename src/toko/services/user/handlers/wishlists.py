"""Wishlists: products an account keeps an eye on, in named collections; every change is idempotent.

Products are stored by id and not checked against the catalog (services do not
call each other for this): a wishlist may name a product that was archived
since, and removing it is as harmless as removing one that is not there. Items
are shown with their product's summary (title, price, cover image, availability)
from the read model the catalog's and the inventory's events keep
(``toko.services.user.consumers``); a product it does not know yet shows ids only.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from toko.platform.auth import Principal
from toko.platform.errors import AlreadyExists, FailedPrecondition, FieldViolation, NotFound
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import Page, PageSpec, bad_page_token, decode_token, encode_token, id_after
from toko.platform.validation import ruled
from toko.services.user import domain
from toko.services.user.domain import MAX_WISHLIST_COLLECTIONS, MAX_WISHLIST_ITEMS
from toko.services.user.error_codes import ErrorCode
from toko.services.user.handlers.common import (
    SOURCE,
    Users,
    account_id,
    live_user,
    optional_id,
)
from toko.services.user.mapping import collection_to_proto, wishlist_item_to_proto
from toko.services.user.repository.accounts import AccountRepository
from toko.services.user.repository.product_summaries import ProductSummaryRepository
from toko.services.user.repository.wishlists import WishlistRepository
from toko.user.v1 import user_pb2 as pb

ITEM_PAGES = PageSpec(default=20, maximum=100)
COLLECTION_PAGES = PageSpec(default=20, maximum=50)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


async def add_item(
    *, users: Users, user_id: str, product_id: str, collection_id: str = "", principal: Principal
) -> pb.WishlistItem:
    """Put a product on the wishlist (and into a collection); adding it again changes nothing."""
    target = account_id(principal, user_id, sub_resource=True)
    require_id(product_id, "product_id")
    collection = optional_id(collection_id, "collection_id")
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = WishlistRepository(uow.session)
        # The account's row lock serializes its wishlist writes, so the cap holds exactly.
        await live_user(AccountRepository(uow.session), target, for_update=True)
        if collection is not None and await repository.get_collection(target, collection) is None:
            raise _collection_not_found(collection)
        if not await repository.has_wishlist_item(target, product_id):
            if await repository.count_wishlist_items(target) >= MAX_WISHLIST_ITEMS:
                raise FailedPrecondition(
                    ErrorCode.WISHLIST_LIMIT_REACHED,
                    f"a wishlist holds at most {MAX_WISHLIST_ITEMS} products",
                )
            await repository.add_wishlist_item(target, product_id, users.clock())
        if collection is not None:
            await repository.add_to_collection(target, collection, product_id)
        item = await repository.get_wishlist_item(target, product_id)
        summaries = await ProductSummaryRepository(uow.session).summaries([product_id])
        await uow.commit()
    assert item is not None  # just written in this transaction
    return wishlist_item_to_proto(item, summaries.get(product_id))


async def remove_item(
    *, users: Users, user_id: str, product_id: str, collection_id: str = "", principal: Principal
) -> None:
    """Take a product off the wishlist, or out of one collection; removing what is not there is fine."""
    target = account_id(principal, user_id, sub_resource=True)
    require_id(product_id, "product_id")
    collection = optional_id(collection_id, "collection_id")
    async with users.database.unit_of_work(SOURCE) as uow:
        await WishlistRepository(uow.session).remove_wishlist_item(target, product_id, collection)
        await uow.commit()


async def list_items(
    *,
    users: Users,
    user_id: str,
    collection_id: str = "",
    principal: Principal,
    page_size: int = 0,
    page_token: str = "",
) -> Page[pb.WishlistItem]:
    """The wishlist, newest first, or one collection of it, each item with its product's summary."""
    target = account_id(principal, user_id, sub_resource=True)
    collection = optional_id(collection_id, "collection_id")
    size = ITEM_PAGES.size(page_size)
    filters = [target, collection or ""]
    key = decode_token(page_token, filters, 2)
    after: tuple[datetime, str] | None = None
    if key is not None:
        micros, last = key
        if not isinstance(micros, int) or not isinstance(last, str) or not is_id(last) or micros < 0:
            raise bad_page_token()
        after = (_EPOCH + timedelta(microseconds=micros), last)
    async with users.database.sessions() as session:
        repository = WishlistRepository(session)
        if collection is not None and await repository.get_collection(target, collection) is None:
            raise _collection_not_found(collection)
        found = await repository.list_wishlist_items(
            target, collection_id=collection, after=after, limit=size + 1
        )
        shown = found[:size]
        summaries = await ProductSummaryRepository(session).summaries(item.product_id for item in shown)
    token = ""
    if len(found) > size:
        last_seen = found[size - 1]
        token = encode_token([_micros(last_seen.created_at), last_seen.product_id], filters)
    return Page([wishlist_item_to_proto(item, summaries.get(item.product_id)) for item in shown], token)


async def create_collection(
    *, users: Users, user_id: str, name: str, principal: Principal
) -> pb.WishlistCollection:
    """Add a named collection to the wishlist."""
    target = account_id(principal, user_id, sub_resource=True)
    checked = ruled(lambda: domain.check_collection_name(name))
    collection_id = new_id()
    async with users.database.unit_of_work(SOURCE) as uow:
        repository = WishlistRepository(uow.session)
        await live_user(AccountRepository(uow.session), target, for_update=True)
        if await repository.count_collections(target) >= MAX_WISHLIST_COLLECTIONS:
            raise FailedPrecondition(
                ErrorCode.WISHLIST_LIMIT_REACHED,
                f"a wishlist holds at most {MAX_WISHLIST_COLLECTIONS} collections",
            )
        if not await repository.add_collection(
            collection_id=collection_id, user_id=target, name=checked, now=users.clock()
        ):
            raise AlreadyExists(
                ErrorCode.COLLECTION_NAME_TAKEN,
                f"the wishlist has a collection called {checked!r} already",
                [FieldViolation("collection.name", "is taken", ErrorCode.COLLECTION_NAME_TAKEN)],
            )
        collection = await repository.get_collection(target, collection_id)
        await uow.commit()
    assert collection is not None  # just written in this transaction
    return collection_to_proto(collection)


async def list_collections(
    *, users: Users, user_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[pb.WishlistCollection]:
    """The named collections, oldest first."""
    target = account_id(principal, user_id, sub_resource=True)
    size = COLLECTION_PAGES.size(page_size)
    filters = [target]
    after = id_after(page_token, filters)
    async with users.database.sessions() as session:
        found = await WishlistRepository(session).list_collections(target, after=after, limit=size + 1)
    token = encode_token([found[size - 1].id], filters) if len(found) > size else ""
    return Page([collection_to_proto(c) for c in found[:size]], token)


async def delete_collection(*, users: Users, user_id: str, collection_id: str, principal: Principal) -> None:
    """Remove a collection; its products stay on the wishlist."""
    target = account_id(principal, user_id, sub_resource=True)
    require_id(collection_id, "collection_id")
    async with users.database.unit_of_work(SOURCE) as uow:
        if not await WishlistRepository(uow.session).delete_collection(target, collection_id):
            raise _collection_not_found(collection_id)
        await uow.commit()


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _collection_not_found(collection_id: str) -> NotFound:
    return NotFound(ErrorCode.COLLECTION_NOT_FOUND, f"no wishlist collection {collection_id}")
