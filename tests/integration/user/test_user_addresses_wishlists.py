"""Address books and wishlists through the real gRPC server: rules, caps, defaults, privacy, idempotency."""

from __future__ import annotations

import uuid

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import func, select
from user_testkit import UNSEEN_OR_REORDERED_NAMES, failure, metadata_of

from conftest import SignUp, Stub
from toko.platform.db import Database
from toko.services.user.repository.tables import addresses
from toko.user.v1 import user_pb2 as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND


def address(**changes: object) -> pb.Address:
    fields = {
        "label": "Rumah",
        "recipient": "Siti Rahayu",
        "phone": "081234567890",
        "province": "Jawa Barat",
        "city": "Kota Bandung",
        "district": "Coblong",
        "sub_district": "Dago",
        "postal_code": "40135",
        "street": "Jl. Ir. H. Juanda No. 102",
    } | changes
    return pb.Address(**fields)  # type: ignore[arg-type]


async def add(stub: Stub, metadata: object, **changes: object) -> pb.Address:
    reply = await stub.CreateAddress(
        pb.CreateAddressRequest(user_id="me", address=address(**changes)), metadata=metadata
    )
    return reply.address


async def address_rows(database: Database, user_id: str) -> int:
    async with database.sessions() as session:
        return int(
            (await session.execute(select(func.count()).where(addresses.c.user_id == user_id))).scalar_one()
        )


# --- addresses ----------------------------------------------------------------------------------------------


async def test_the_first_address_is_the_default_and_others_are_not(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)

    home = await add(stub, me, pin=pb.MapPin(latitude=-6.8915, longitude=107.6107))
    office = await add(stub, me, label="Kantor", province="dki jakarta", postal_code="12190")
    listed = (await stub.ListAddresses(pb.ListAddressesRequest(user_id="me"), metadata=me)).addresses

    assert (home.is_default, office.is_default) == (True, False)
    assert (office.province, office.phone) == ("DKI Jakarta", "+6281234567890")
    assert home.pin.latitude == -6.8915
    assert [a.id for a in listed] == [home.id, office.id]


async def test_changing_and_deleting_the_default_keeps_exactly_one(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)
    first = await add(stub, me)
    second = await add(stub, me, label="Kantor")
    third = await add(stub, me, label="Kos")

    chosen = (
        await stub.SetDefaultAddress(
            pb.SetDefaultAddressRequest(user_id="me", address_id=second.id), metadata=me
        )
    ).address
    await stub.DeleteAddress(pb.DeleteAddressRequest(user_id="me", address_id=second.id), metadata=me)
    listed = (await stub.ListAddresses(pb.ListAddressesRequest(user_id="me"), metadata=me)).addresses

    assert chosen.is_default
    # The most recent remaining address took over as the default.
    assert [(a.id, a.is_default) for a in listed] == [(third.id, True), (first.id, False)]


async def test_bad_addresses_are_refused_field_by_field_and_nothing_is_written(
    stub: Stub, sign_up: SignUp, database: Database
) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)

    postal = await failure(
        stub.CreateAddress(
            pb.CreateAddressRequest(user_id="me", address=address(postal_code="0123")), metadata=me
        )
    )
    province = await failure(
        stub.CreateAddress(
            pb.CreateAddressRequest(user_id="me", address=address(province="Selangor")), metadata=me
        )
    )
    phone = await failure(
        stub.CreateAddress(pb.CreateAddressRequest(user_id="me", address=address(phone="12")), metadata=me)
    )
    pin = await failure(
        stub.CreateAddress(
            pb.CreateAddressRequest(
                user_id="me", address=address(pin=pb.MapPin(latitude=35.6, longitude=139.7))
            ),
            metadata=me,
        )
    )

    assert postal == (INVALID, "INVALID_POSTAL_CODE", ["address.postal_code"])
    assert province == (INVALID, "INVALID_PROVINCE", ["address.province"])
    assert phone == (INVALID, "INVALID_PHONE", ["address.phone"])
    assert pin == (INVALID, "INVALID_MAP_PIN", ["address.pin"])
    assert await address_rows(database, user.id) == 0


async def test_an_address_book_holds_twenty_addresses(
    stub: Stub, sign_up: SignUp, database: Database
) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)
    for number in range(20):
        await add(stub, me, label=f"Alamat {number}")

    code, reason, _ = await failure(
        stub.CreateAddress(pb.CreateAddressRequest(user_id="me", address=address()), metadata=me)
    )
    first_page = await stub.ListAddresses(pb.ListAddressesRequest(user_id="me", page_size=15), metadata=me)
    second_page = await stub.ListAddresses(
        pb.ListAddressesRequest(user_id="me", page_size=15, page_token=first_page.next_page_token),
        metadata=me,
    )

    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "ADDRESS_LIMIT_REACHED")
    assert await address_rows(database, user.id) == 20
    assert len(first_page.addresses) == 15
    assert len(second_page.addresses) == 5
    assert second_page.next_page_token == ""
    assert len({a.id for a in [*first_page.addresses, *second_page.addresses]}) == 20


async def test_an_address_is_updated_by_field_mask(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)
    home = await add(stub, me)

    updated = (
        await stub.UpdateAddress(
            pb.UpdateAddressRequest(
                user_id="me",
                address=pb.Address(id=home.id, street="Jl. Dago No. 1", postal_code="99999", recipient=""),
                update_mask=FieldMask(paths=["street"]),
            ),
            metadata=me,
        )
    ).address
    bad = await failure(
        stub.UpdateAddress(
            pb.UpdateAddressRequest(
                user_id="me",
                address=pb.Address(id=home.id, postal_code="1234"),
                update_mask=FieldMask(paths=["postal_code"]),
            ),
            metadata=me,
        )
    )

    assert (updated.street, updated.postal_code, updated.recipient) == (
        "Jl. Dago No. 1",
        "40135",
        "Siti Rahayu",
    )
    assert bad == (INVALID, "INVALID_POSTAL_CODE", ["address.postal_code"])


async def test_a_create_retried_with_its_idempotency_key_adds_one_address(
    stub: Stub, sign_up: SignUp, database: Database
) -> None:
    user, _ = await sign_up()
    metadata = (*metadata_of(user), ("idempotency-key", "alamat-1"))
    request = pb.CreateAddressRequest(user_id="me", address=address())

    first = (await stub.CreateAddress(request, metadata=metadata)).address
    second = (await stub.CreateAddress(request, metadata=metadata)).address

    assert first == second
    assert await address_rows(database, user.id) == 1


async def test_another_buyers_address_book_is_not_found(stub: Stub, sign_up: SignUp) -> None:
    alice, _ = await sign_up()
    bob, _ = await sign_up()
    bobs = await add(stub, metadata_of(bob))
    as_alice = metadata_of(alice)

    listing = await failure(stub.ListAddresses(pb.ListAddressesRequest(user_id=bob.id), metadata=as_alice))
    through_me = await failure(
        stub.GetAddress(pb.GetAddressRequest(user_id="me", address_id=bobs.id), metadata=as_alice)
    )
    deleting = await failure(
        stub.DeleteAddress(pb.DeleteAddressRequest(user_id="me", address_id=bobs.id), metadata=as_alice)
    )
    creating = await failure(
        stub.CreateAddress(pb.CreateAddressRequest(user_id=bob.id, address=address()), metadata=as_alice)
    )
    still = (
        await stub.GetAddress(
            pb.GetAddressRequest(user_id="me", address_id=bobs.id), metadata=metadata_of(bob)
        )
    ).address

    assert listing[0] == through_me[0] == deleting[0] == creating[0] == NOT_FOUND
    assert still == bobs


# --- wishlists ----------------------------------------------------------------------------------------------


async def test_adding_and_removing_wishlist_items_is_idempotent(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)
    kopi, sambal = str(uuid.uuid4()), str(uuid.uuid4())

    await stub.AddWishlistItem(pb.AddWishlistItemRequest(user_id="me", product_id=kopi), metadata=me)
    await stub.AddWishlistItem(pb.AddWishlistItemRequest(user_id="me", product_id=kopi), metadata=me)
    await stub.AddWishlistItem(pb.AddWishlistItemRequest(user_id="me", product_id=sambal), metadata=me)
    await stub.RemoveWishlistItem(pb.RemoveWishlistItemRequest(user_id="me", product_id=sambal), metadata=me)
    await stub.RemoveWishlistItem(pb.RemoveWishlistItemRequest(user_id="me", product_id=sambal), metadata=me)
    await stub.RemoveWishlistItem(
        pb.RemoveWishlistItemRequest(user_id="me", product_id=str(uuid.uuid4())), metadata=me
    )
    items = (await stub.ListWishlistItems(pb.ListWishlistItemsRequest(user_id="me"), metadata=me)).items
    malformed = await failure(
        stub.AddWishlistItem(pb.AddWishlistItemRequest(user_id="me", product_id="kopi"), metadata=me)
    )

    assert [item.product_id for item in items] == [kopi]
    assert malformed == (INVALID, "INVALID_ID", ["product_id"])


async def test_collections_group_items_that_stay_on_the_wishlist(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)
    lebaran = (
        await stub.CreateWishlistCollection(
            pb.CreateWishlistCollectionRequest(
                user_id="me", collection=pb.WishlistCollection(name="Kado Lebaran")
            ),
            metadata=me,
        )
    ).collection
    taken = await failure(
        stub.CreateWishlistCollection(
            pb.CreateWishlistCollectionRequest(
                user_id="me", collection=pb.WishlistCollection(name="kado lebaran")
            ),
            metadata=me,
        )
    )
    kue, baju = str(uuid.uuid4()), str(uuid.uuid4())
    await stub.AddWishlistItem(
        pb.AddWishlistItemRequest(user_id="me", product_id=kue, collection_id=lebaran.id), metadata=me
    )
    await stub.AddWishlistItem(pb.AddWishlistItemRequest(user_id="me", product_id=baju), metadata=me)

    in_collection = (
        await stub.ListWishlistItems(
            pb.ListWishlistItemsRequest(user_id="me", collection_id=lebaran.id), metadata=me
        )
    ).items
    collections = (
        await stub.ListWishlistCollections(pb.ListWishlistCollectionsRequest(user_id="me"), metadata=me)
    ).collections
    await stub.DeleteWishlistCollection(
        pb.DeleteWishlistCollectionRequest(user_id="me", collection_id=lebaran.id), metadata=me
    )
    everything = (await stub.ListWishlistItems(pb.ListWishlistItemsRequest(user_id="me"), metadata=me)).items

    assert taken[:2] == (grpc.StatusCode.ALREADY_EXISTS, "COLLECTION_NAME_TAKEN")
    assert [(i.product_id, list(i.collection_ids)) for i in in_collection] == [(kue, [lebaran.id])]
    assert [(c.name, c.item_count) for c in collections] == [("Kado Lebaran", 1)]
    assert [i.product_id for i in everything] == [baju, kue]


@pytest.mark.parametrize(
    "name", list(UNSEEN_OR_REORDERED_NAMES.values()), ids=list(UNSEEN_OR_REORDERED_NAMES)
)
async def test_a_collection_name_of_invisible_or_reordering_characters_is_refused(
    stub: Stub, sign_up: SignUp, name: str
) -> None:
    user, _ = await sign_up()

    refused = await failure(
        stub.CreateWishlistCollection(
            pb.CreateWishlistCollectionRequest(user_id="me", collection=pb.WishlistCollection(name=name)),
            metadata=metadata_of(user),
        )
    )

    assert refused == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_COLLECTION_NAME", ["collection.name"])


async def test_the_wishlist_pages_newest_first(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)
    products = [str(uuid.uuid4()) for _ in range(5)]
    for product in products:
        await stub.AddWishlistItem(pb.AddWishlistItemRequest(user_id="me", product_id=product), metadata=me)

    seen, token = [], ""
    while True:
        page = await stub.ListWishlistItems(
            pb.ListWishlistItemsRequest(user_id="me", page_size=2, page_token=token), metadata=me
        )
        seen += [item.product_id for item in page.items]
        if not (token := page.next_page_token):
            break

    assert seen == products[::-1]


async def test_another_buyers_wishlist_is_not_found(stub: Stub, sign_up: SignUp) -> None:
    alice, _ = await sign_up()
    bob, _ = await sign_up()

    listing = await failure(
        stub.ListWishlistItems(pb.ListWishlistItemsRequest(user_id=bob.id), metadata=metadata_of(alice))
    )
    adding = await failure(
        stub.AddWishlistItem(
            pb.AddWishlistItemRequest(user_id=bob.id, product_id=str(uuid.uuid4())),
            metadata=metadata_of(alice),
        )
    )

    assert listing[:2] == adding[:2] == (NOT_FOUND, "USER_NOT_FOUND")
