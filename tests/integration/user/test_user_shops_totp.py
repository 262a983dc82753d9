"""Shops and the TOTP second factor through the real gRPC server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pyotp
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import select, update
from user_testkit import as_admin, as_service, failure, metadata_of

from conftest import EventLog, SignUp, Stub
from toko.platform.db import Database
from toko.services.user.bootstrap import build_users
from toko.services.user.handlers import totp as totp_handlers
from toko.services.user.repository.tables import users
from toko.services.user.settings import UserSettings
from toko.user.v1 import events_pb2
from toko.user.v1 import user_pb2 as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PRECONDITION = grpc.StatusCode.FAILED_PRECONDITION
DENIED = grpc.StatusCode.PERMISSION_DENIED


def domain() -> str:
    return f"toko-{uuid.uuid4().hex[:10]}"


def open_request(**changes: str) -> pb.OpenShopRequest:
    fields = {
        "name": "Kopi Nusantara",
        "domain": domain(),
        "description": "Kopi asli",
        "origin_city": "Malang",
    }
    return pb.OpenShopRequest(**(fields | changes))


async def seller(stub: Stub, sign_up: SignUp) -> tuple[pb.User, pb.Shop]:
    """A verified account that owns a fresh shop, with its roles as they are now."""
    user, _ = await sign_up(verified=True)
    shop = (await stub.OpenShop(open_request(), metadata=metadata_of(user))).shop
    user = (await stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=metadata_of(user))).user
    return user, shop


# --- shops --------------------------------------------------------------------------------------------------


async def test_opening_a_shop_makes_a_seller(stub: Stub, sign_up: SignUp, events: EventLog) -> None:
    user, _ = await sign_up(verified=True)
    request = open_request()

    shop = (await stub.OpenShop(request, metadata=metadata_of(user))).shop
    me = (await stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=metadata_of(user))).user
    [opened] = await events.wait_for(events_pb2.ShopOpened, shop.id)
    [changed] = await events.wait_for(events_pb2.UserRolesChanged, user.id)
    public = (await stub.GetShop(pb.GetShopRequest(shop_id=shop.id))).shop
    by_domain = (await stub.GetShopByDomain(pb.GetShopByDomainRequest(domain=request.domain))).shop

    assert (shop.status, shop.owner_id, shop.domain) == (pb.SHOP_STATUS_ACTIVE, user.id, request.domain)
    assert (list(me.roles), me.shop_id) == (["buyer", "seller"], shop.id)
    assert (opened.owner_id, list(changed.roles), changed.shop_id) == (user.id, ["buyer", "seller"], shop.id)
    assert public == by_domain == shop


async def test_opening_a_shop_needs_a_verified_email_a_free_domain_and_no_other_shop(
    stub: Stub, sign_up: SignUp
) -> None:
    unverified, _ = await sign_up()
    owner, shop = await seller(stub, sign_up)
    newcomer, _ = await sign_up(verified=True)

    not_verified = await failure(stub.OpenShop(open_request(), metadata=metadata_of(unverified)))
    second = await failure(stub.OpenShop(open_request(), metadata=metadata_of(owner)))
    taken = await failure(stub.OpenShop(open_request(domain=shop.domain), metadata=metadata_of(newcomer)))
    reserved = await failure(stub.OpenShop(open_request(domain="admin"), metadata=metadata_of(newcomer)))
    malformed = await failure(
        stub.OpenShop(open_request(domain="Kopi_Kita", name="K"), metadata=metadata_of(newcomer))
    )

    assert not_verified[:2] == (PRECONDITION, "EMAIL_NOT_VERIFIED")
    assert second[:2] == (PRECONDITION, "ALREADY_OWNS_SHOP")
    assert taken == (grpc.StatusCode.ALREADY_EXISTS, "DOMAIN_TAKEN", ["domain"])
    assert reserved == (INVALID, "INVALID_DOMAIN", ["domain"])
    assert malformed[:2] == (INVALID, "VALIDATION_FAILED")
    assert set(malformed[2]) == {"domain", "name"}


async def test_a_seller_cannot_manage_another_sellers_shop(stub: Stub, sign_up: SignUp) -> None:
    _, shop = await seller(stub, sign_up)
    rival, _ = await seller(stub, sign_up)
    rename = pb.UpdateShopRequest(
        shop=pb.Shop(id=shop.id, name="Punya Saya"), update_mask=FieldMask(paths=["name"])
    )

    update = await failure(stub.UpdateShop(rename, metadata=metadata_of(rival)))
    close = await failure(stub.CloseShop(pb.CloseShopRequest(shop_id=shop.id), metadata=metadata_of(rival)))
    staff = await failure(
        stub.AddShopStaff(
            pb.AddShopStaffRequest(shop_id=shop.id, user_id=rival.id), metadata=metadata_of(rival)
        )
    )
    by_admin = (await stub.UpdateShop(rename, metadata=as_admin())).shop

    assert update[:2] == close[:2] == staff[:2] == (DENIED, "NOT_SHOP_OWNER")
    assert by_admin.name == "Punya Saya"


async def test_staff_become_sellers_of_the_shop_up_to_ten(stub: Stub, sign_up: SignUp) -> None:
    owner, shop = await seller(stub, sign_up)
    staff = [(await sign_up())[0] for _ in range(11)]
    for member in staff[:10]:
        await stub.AddShopStaff(
            pb.AddShopStaffRequest(shop_id=shop.id, user_id=member.id), metadata=metadata_of(owner)
        )

    eleventh = await failure(
        stub.AddShopStaff(
            pb.AddShopStaffRequest(shop_id=shop.id, user_id=staff[10].id), metadata=metadata_of(owner)
        )
    )
    claims = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=staff[0].id), metadata=as_service())
    listed = (
        await stub.ListShopStaff(pb.ListShopStaffRequest(shop_id=shop.id), metadata=metadata_of(owner))
    ).members
    await stub.RemoveShopStaff(
        pb.RemoveShopStaffRequest(shop_id=shop.id, user_id=staff[0].id), metadata=metadata_of(owner)
    )
    after = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=staff[0].id), metadata=as_service())

    assert eleventh[:2] == (PRECONDITION, "STAFF_LIMIT_REACHED")
    assert (list(claims.roles), claims.shop_id) == (["buyer", "seller"], shop.id)
    assert len(listed) == 10
    assert (list(after.roles), after.shop_id) == (["buyer"], "")


async def test_transferring_a_shop_moves_the_seller_role(
    stub: Stub, sign_up: SignUp, events: EventLog
) -> None:
    owner, shop = await seller(stub, sign_up)
    heir, _ = await sign_up(verified=True)
    unverified, _ = await sign_up()

    refused = await failure(
        stub.TransferShop(
            pb.TransferShopRequest(shop_id=shop.id, new_owner_id=unverified.id), metadata=metadata_of(owner)
        )
    )
    moved = (
        await stub.TransferShop(
            pb.TransferShopRequest(shop_id=shop.id, new_owner_id=heir.id), metadata=metadata_of(owner)
        )
    ).shop
    [transferred] = await events.wait_for(events_pb2.ShopTransferred, shop.id)
    old = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=owner.id), metadata=as_service())
    new = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=heir.id), metadata=as_service())
    old_owner_again = await failure(
        stub.CloseShop(pb.CloseShopRequest(shop_id=shop.id), metadata=metadata_of(owner))
    )

    assert refused[:2] == (PRECONDITION, "EMAIL_NOT_VERIFIED")
    assert moved.owner_id == heir.id
    assert (transferred.from_owner_id, transferred.to_owner_id) == (owner.id, heir.id)
    assert (list(old.roles), old.shop_id) == (["buyer"], "")
    assert (list(new.roles), new.shop_id) == (["buyer", "seller"], shop.id)
    assert old_owner_again[:2] == (DENIED, "NOT_SHOP_OWNER")


async def test_closing_a_shop_ends_its_sellers_and_keeps_the_domain(stub: Stub, sign_up: SignUp) -> None:
    owner, shop = await seller(stub, sign_up)
    newcomer, _ = await sign_up(verified=True)

    closed = (await stub.CloseShop(pb.CloseShopRequest(shop_id=shop.id), metadata=metadata_of(owner))).shop
    claims = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=owner.id), metadata=as_service())
    listed = (await stub.ListShops(pb.ListShopsRequest(page_size=100))).shops
    reuse = await failure(stub.OpenShop(open_request(domain=shop.domain), metadata=metadata_of(newcomer)))
    reopened = (await stub.OpenShop(open_request(), metadata=metadata_of(owner))).shop

    assert closed.status == pb.SHOP_STATUS_CLOSED
    assert (list(claims.roles), claims.shop_id) == (["buyer"], "")
    assert shop.id not in {s.id for s in listed}
    assert reuse[1] == "DOMAIN_TAKEN"
    assert reopened.owner_id == owner.id


async def test_the_owner_of_an_open_shop_cannot_delete_the_account(stub: Stub, sign_up: SignUp) -> None:
    owner, _ = await seller(stub, sign_up)

    code, reason, _ = await failure(
        stub.DeleteUser(pb.DeleteUserRequest(user_id="me"), metadata=metadata_of(owner))
    )

    assert (code, reason) == (PRECONDITION, "SHOP_STILL_OPEN")


async def test_a_buyer_cannot_call_seller_rpcs(stub: Stub, sign_up: SignUp) -> None:
    _, shop = await seller(stub, sign_up)
    buyer, _ = await sign_up()

    code, reason, _ = await failure(
        stub.CloseShop(pb.CloseShopRequest(shop_id=shop.id), metadata=metadata_of(buyer))
    )

    assert (code, reason) == (DENIED, "ROLE_REQUIRED")


# --- TOTP ---------------------------------------------------------------------------------------------------


async def test_totp_enrol_confirm_verify_and_recovery_codes_work_once(stub: Stub, sign_up: SignUp) -> None:
    owner, _ = await seller(stub, sign_up)
    me = metadata_of(owner)

    enrolled = await stub.EnrollTotp(pb.EnrollTotpRequest(user_id="me"), metadata=me)
    totp = pyotp.TOTP(enrolled.secret)
    wrong = await failure(stub.ConfirmTotp(pb.ConfirmTotpRequest(user_id="me", code="000000"), metadata=me))
    confirming = totp.now()
    codes = list(
        (
            await stub.ConfirmTotp(pb.ConfirmTotpRequest(user_id="me", code=confirming), metadata=me)
        ).recovery_codes
    )
    # The confirming code's step is used up: a replay of it is refused.
    replay = await failure(
        stub.VerifySecondFactor(
            pb.VerifySecondFactorRequest(user_id=owner.id, code=confirming), metadata=as_service()
        )
    )
    next_code = totp.at(datetime.now(UTC) + timedelta(seconds=30))
    await stub.VerifySecondFactor(
        pb.VerifySecondFactorRequest(user_id=owner.id, code=next_code), metadata=as_service()
    )
    await stub.VerifySecondFactor(
        pb.VerifySecondFactorRequest(user_id=owner.id, code=codes[0].upper()), metadata=as_service()
    )
    recovery_again = await failure(
        stub.VerifySecondFactor(
            pb.VerifySecondFactorRequest(user_id=owner.id, code=codes[0]), metadata=as_service()
        )
    )
    login = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=owner.id), metadata=as_service())
    profile = (await stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=me)).user
    await stub.DisableTotp(pb.DisableTotpRequest(user_id="me", code=codes[1]), metadata=me)
    off = (await stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=me)).user

    assert enrolled.otpauth_uri.startswith("otpauth://totp/")
    assert "issuer=toko" in enrolled.otpauth_uri
    assert enrolled.qr_svg.startswith("<svg")
    assert wrong == (INVALID, "INVALID_TOTP_CODE", ["code"])
    assert len(set(codes)) == 10
    assert replay[:2] == recovery_again[:2] == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_SECOND_FACTOR")
    assert login.user_id == owner.id
    assert profile.totp_enabled
    assert not off.totp_enabled


async def _stored_secret(database: Database, user_id: str) -> str:
    async with database.sessions() as session:
        stored: str = (
            await session.execute(select(users.c.totp_secret).where(users.c.id == user_id))
        ).scalar_one()
    return stored


async def test_totp_secrets_are_stored_sealed_and_clear_ones_are_sealed_at_start(
    stub: Stub, sign_up: SignUp, database: Database, settings: UserSettings
) -> None:
    owner, _ = await seller(stub, sign_up)
    enrolled = await stub.EnrollTotp(pb.EnrollTotpRequest(user_id="me"), metadata=metadata_of(owner))
    stored = await _stored_secret(database, owner.id)
    # An account whose secret an earlier version stored in the clear.
    legacy, _ = await seller(stub, sign_up)
    secret = pyotp.random_base32()
    async with database.sessions() as session:
        await session.execute(
            update(users).where(users.c.id == legacy.id).values(totp_secret=secret, totp_enabled=True)
        )
        await session.commit()
    # What the service runs at start, with the same master secret (the settings' data directory).
    sealed = await totp_handlers.seal_stored_secrets(database, build_users(settings, database).sealer)
    legacy_stored = await _stored_secret(database, legacy.id)
    await stub.VerifySecondFactor(
        pb.VerifySecondFactorRequest(user_id=legacy.id, code=pyotp.TOTP(secret).now()), metadata=as_service()
    )
    again = await totp_handlers.seal_stored_secrets(database, build_users(settings, database).sealer)

    assert stored.startswith("sealed:")
    assert enrolled.secret not in stored
    assert (sealed, again) == (1, 0)
    assert legacy_stored.startswith("sealed:")
    assert secret not in legacy_stored


async def test_a_second_factor_without_totp_is_refused_like_a_wrong_code(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()

    code, reason, _ = await failure(
        stub.VerifySecondFactor(
            pb.VerifySecondFactorRequest(user_id=user.id, code="123456"), metadata=as_service()
        )
    )

    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_SECOND_FACTOR")
