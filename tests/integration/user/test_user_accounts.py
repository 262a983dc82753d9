"""Accounts through the real gRPC server: sign-up, verification, passwords, profile, deletion, sign-in checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from sqlalchemy import func, select, update
from user_testkit import (
    UNSEEN_OR_REORDERED_NAMES,
    as_admin,
    as_service,
    as_user,
    failure,
    metadata_of,
    unique_email,
)

from conftest import EventLog, SignUp, Stub
from toko.platform.db import Database
from toko.services.user.repository.tables import account_tokens, addresses, users
from toko.user.v1 import events_pb2
from toko.user.v1 import user_pb2 as pb

INVALID = grpc.StatusCode.INVALID_ARGUMENT
PASSWORD = "Kopi-Susu-Gula-Aren-2025"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


async def expire_tokens(database: Database, user_id: str) -> None:
    """Let every emailed token of the account run out, as a day later."""
    async with database.sessions() as session:
        await session.execute(
            update(account_tokens)
            .where(account_tokens.c.user_id == user_id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()


async def count_users(database: Database, email: str) -> int:
    async with database.sessions() as session:
        return int((await session.execute(select(func.count()).where(users.c.email == email))).scalar_one())


# --- sign-up and verification -------------------------------------------------------------------------------


async def test_sign_up_mails_a_link_that_verifies_the_address(stub: Stub, events: EventLog) -> None:
    email = unique_email("Siti")
    user = (
        await stub.SignUp(
            pb.SignUpRequest(email=email, password=PASSWORD, name="Siti Rahayu", phone="0812 3456 7890")
        )
    ).user

    [signed_up] = await events.wait_for(events_pb2.UserSignedUp, user.id)
    [requested] = await events.wait_for(events_pb2.EmailVerificationRequested, user.id)
    verified = (
        await stub.VerifyEmail(pb.VerifyEmailRequest(token=token_of(requested.verification_url)))
    ).user
    # A second click, or a mail scanner that opened the link first, still ends in "verified".
    again = (await stub.VerifyEmail(pb.VerifyEmailRequest(token=token_of(requested.verification_url)))).user
    await events.wait_for(events_pb2.EmailVerified, user.id)

    assert user.email == email.lower()
    assert user.phone == "+6281234567890"
    assert (user.email_verified, list(user.roles)) == (False, ["buyer"])
    assert signed_up.email == email.lower()
    assert requested.verification_url.startswith("http://127.0.0.1:8080/account/verify-email?token=")
    assert parse_qs(urlsplit(requested.verification_url).query)["lang"] == ["id"]
    assert requested.expire_time.ToDatetime(UTC) > datetime.now(UTC) + timedelta(hours=23)
    assert verified.email_verified
    assert again == verified
    assert len(events.of(events_pb2.EmailVerified, user.id)) == 1


async def test_a_verification_link_past_its_time_or_unknown_is_refused_even_once_used(
    stub: Stub, sign_up: SignUp, events: EventLog, database: Database
) -> None:
    user, _ = await sign_up()
    [requested] = await events.wait_for(events_pb2.EmailVerificationRequested, user.id)
    token = token_of(requested.verification_url)
    await stub.VerifyEmail(pb.VerifyEmailRequest(token=token))
    await expire_tokens(database, user.id)

    expired = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token=token)))
    unknown = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token="bukan-token-yang-benar")))

    assert expired == unknown == (INVALID, "INVALID_TOKEN", ["token"])


async def test_a_duplicate_email_is_a_conflict_whatever_its_case(
    stub: Stub, sign_up: SignUp, database: Database
) -> None:
    user, _ = await sign_up()

    code, reason, fields = await failure(
        stub.SignUp(pb.SignUpRequest(email=user.email.upper(), password=PASSWORD, name="Budi Lain"))
    )

    assert (code, reason, fields) == (grpc.StatusCode.ALREADY_EXISTS, "EMAIL_TAKEN", ["email"])
    assert await count_users(database, user.email) == 1


async def test_bad_sign_ups_are_refused_naming_every_field_and_write_nothing(
    stub: Stub, database: Database
) -> None:
    malformed = await failure(stub.SignUp(pb.SignUpRequest(email="budi@", password=PASSWORD, name="Budi")))
    weak = await failure(
        stub.SignUp(pb.SignUpRequest(email=unique_email(), password="password1", name="Budi"))
    )
    short = await failure(stub.SignUp(pb.SignUpRequest(email=unique_email(), password="k0p1", name="Budi")))
    email = unique_email()
    same_as_email = await failure(stub.SignUp(pb.SignUpRequest(email=email, password=email, name="Budi")))
    phone = await failure(
        stub.SignUp(
            pb.SignUpRequest(email=unique_email(), password=PASSWORD, name="Budi", phone="+14155552671")
        )
    )
    everything = await failure(stub.SignUp(pb.SignUpRequest(email="x", password="123", name="", phone="1")))

    assert malformed == (INVALID, "INVALID_EMAIL", ["email"])
    assert weak == short == same_as_email == (INVALID, "WEAK_PASSWORD", ["password"])
    assert phone == (INVALID, "INVALID_PHONE", ["phone"])
    assert everything[:2] == (INVALID, "VALIDATION_FAILED")
    assert set(everything[2]) == {"email", "name", "phone", "password"}
    assert await count_users(database, email) == 0


async def test_a_sign_up_retried_with_its_idempotency_key_creates_one_account(
    stub: Stub, database: Database
) -> None:
    request = pb.SignUpRequest(email=unique_email(), password=PASSWORD, name="Agus")
    key = (("idempotency-key", "signup-retry-1"),)

    first = (await stub.SignUp(request, metadata=key)).user
    second = (await stub.SignUp(request, metadata=key)).user

    assert first == second
    assert await count_users(database, request.email) == 1


async def test_resending_verification_voids_the_earlier_link(
    stub: Stub, sign_up: SignUp, events: EventLog
) -> None:
    user, _ = await sign_up()
    [first] = await events.wait_for(events_pb2.EmailVerificationRequested, user.id)

    await stub.ResendVerification(pb.ResendVerificationRequest(user_id="me"), metadata=metadata_of(user))
    _, second = await events.wait_for(events_pb2.EmailVerificationRequested, user.id, count=2)
    old = await failure(stub.VerifyEmail(pb.VerifyEmailRequest(token=token_of(first.verification_url))))
    verified = (await stub.VerifyEmail(pb.VerifyEmailRequest(token=token_of(second.verification_url)))).user
    done = await failure(
        stub.ResendVerification(pb.ResendVerificationRequest(user_id="me"), metadata=metadata_of(user))
    )

    assert old[1] == "INVALID_TOKEN"
    assert verified.email_verified
    assert done[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "EMAIL_ALREADY_VERIFIED")


async def test_an_accounts_language_is_chosen_at_sign_up_changed_by_mask_and_carried_to_its_emails(
    stub: Stub, sign_up: SignUp, events: EventLog
) -> None:
    default, _ = await sign_up()
    english, password = await sign_up(language="en", name="Jane Doe")
    refused = await failure(
        stub.SignUp(pb.SignUpRequest(email=unique_email(), password=PASSWORD, name="Budi", language="fr"))
    )
    [verification] = await events.wait_for(events_pb2.EmailVerificationRequested, english.id)
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=english.email))
    [reset] = await events.wait_for(events_pb2.PasswordResetRequested, english.id)

    switched = (
        await stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(id="me", language="id"), update_mask=FieldMask(paths=["language"])
            ),
            metadata=metadata_of(english),
        )
    ).user
    unknown = await failure(
        stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(id="me", language="jv"), update_mask=FieldMask(paths=["language"])
            ),
            metadata=metadata_of(english),
        )
    )
    credentials = await stub.VerifyCredentials(
        pb.VerifyCredentialsRequest(email=english.email, password=password), metadata=as_service()
    )

    assert (default.language, english.language) == ("id", "en")
    assert refused == (INVALID, "INVALID_LANGUAGE", ["language"])
    assert (verification.language, verification.name) == ("en", "Jane Doe")
    assert (reset.language, reset.name) == ("en", "Jane Doe")
    assert switched.language == "id"
    assert unknown == (INVALID, "INVALID_LANGUAGE", ["user.language"])
    assert (credentials.email, credentials.language) == (english.email, "id")


# --- passwords ----------------------------------------------------------------------------------------------


async def test_password_reset_works_once_and_signs_the_account_out(
    stub: Stub, sign_up: SignUp, events: EventLog
) -> None:
    user, old_password = await sign_up()
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email.upper()))
    [requested] = await events.wait_for(events_pb2.PasswordResetRequested, user.id)
    token = token_of(requested.reset_url)

    weak = await failure(stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password="12345678")))
    await stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password="Rendang-Padang-Asli-99"))
    reused = await failure(
        stub.ResetPassword(pb.ResetPasswordRequest(token=token, new_password="Sate-Madura-77"))
    )
    await events.wait_for(events_pb2.PasswordChanged, user.id)

    new_login = await stub.VerifyCredentials(
        pb.VerifyCredentialsRequest(email=user.email, password="Rendang-Padang-Asli-99"),
        metadata=as_service(),
    )
    old_login = await failure(
        stub.VerifyCredentials(
            pb.VerifyCredentialsRequest(email=user.email, password=old_password), metadata=as_service()
        )
    )
    assert weak[1] == "WEAK_PASSWORD"  # and the token survived the refusal
    assert reused == (INVALID, "INVALID_TOKEN", ["token"])
    assert new_login.user_id == user.id
    assert old_login[:2] == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert requested.expire_time.ToDatetime(UTC) < datetime.now(UTC) + timedelta(hours=1, minutes=1)


async def test_an_expired_reset_token_is_refused(
    stub: Stub, sign_up: SignUp, events: EventLog, database: Database
) -> None:
    user, _ = await sign_up()
    await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=user.email))
    [requested] = await events.wait_for(events_pb2.PasswordResetRequested, user.id)
    await expire_tokens(database, user.id)

    code, reason, _ = await failure(
        stub.ResetPassword(
            pb.ResetPasswordRequest(token=token_of(requested.reset_url), new_password="Sate-Madura-77")
        )
    )

    assert (code, reason) == (INVALID, "INVALID_TOKEN")


async def test_asking_a_reset_for_an_unknown_email_looks_the_same(stub: Stub, events: EventLog) -> None:
    before = len(events.envelopes)
    reply = await stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=unique_email("nobody")))

    assert reply == pb.RequestPasswordResetResponse()
    assert not [e for e in events.envelopes[before:] if e.type.endswith("PasswordResetRequested")]


async def test_changing_the_password_needs_the_current_one_and_raises_password_changed(
    stub: Stub, sign_up: SignUp, events: EventLog
) -> None:
    user, password = await sign_up()
    me = metadata_of(user)

    wrong = await failure(
        stub.ChangePassword(
            pb.ChangePasswordRequest(
                user_id="me", current_password="not-my-password", new_password="Sate-Madura-77"
            ),
            metadata=me,
        )
    )
    await stub.ChangePassword(
        pb.ChangePasswordRequest(user_id="me", current_password=password, new_password="Sate-Madura-77"),
        metadata=me,
    )
    [changed] = await events.wait_for(events_pb2.PasswordChanged, user.id)

    assert wrong == (INVALID, "WRONG_PASSWORD", ["current_password"])
    assert changed.user_id == user.id


# --- sign-in checks (internal) ------------------------------------------------------------------------------


async def test_verify_credentials_answers_unknown_email_and_wrong_password_alike(
    stub: Stub, sign_up: SignUp
) -> None:
    user, password = await sign_up(verified=True)

    ok = await stub.VerifyCredentials(
        pb.VerifyCredentialsRequest(email=f"  {user.email.upper()} ", password=password),
        metadata=as_service(),
    )
    unknown = await failure(
        stub.VerifyCredentials(
            pb.VerifyCredentialsRequest(email=unique_email(), password=password), metadata=as_service()
        )
    )
    wrong = await failure(
        stub.VerifyCredentials(
            pb.VerifyCredentialsRequest(email=user.email, password="salah-banget"), metadata=as_service()
        )
    )
    as_buyer = await failure(
        stub.VerifyCredentials(
            pb.VerifyCredentialsRequest(email=user.email, password=password), metadata=metadata_of(user)
        )
    )
    claims = await stub.GetUserClaims(pb.GetUserClaimsRequest(user_id=user.id), metadata=as_service())

    assert (ok.user_id, list(ok.roles), ok.email_verified, ok.totp_required) == (
        user.id,
        ["buyer"],
        True,
        False,
    )
    assert unknown == wrong == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS", [])
    assert as_buyer[:2] == (grpc.StatusCode.PERMISSION_DENIED, "ROLE_REQUIRED")
    assert (claims.email, claims.name, claims.email_verified) == (user.email, "Budi Santoso", True)


# --- profile ------------------------------------------------------------------------------------------------


async def test_a_profile_is_updated_by_field_mask(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()
    me = metadata_of(user)

    updated = (
        await stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(
                    id="me", name="Budi S.", phone="081298765432", birth_date="1990-08-17", email="x@y.z"
                ),
                update_mask=FieldMask(paths=["name", "phone", "birth_date"]),
            ),
            metadata=me,
        )
    ).user
    bad = await failure(
        stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(
                    id="me", birth_date="2020-01-01", avatar_url="http://insecure.example.com/a.png"
                ),
                update_mask=FieldMask(paths=["birth_date", "avatar_url"]),
            ),
            metadata=me,
        )
    )
    email_mask = await failure(
        stub.UpdateUser(
            pb.UpdateUserRequest(
                user=pb.User(id="me", email="x@y.z"), update_mask=FieldMask(paths=["email"])
            ),
            metadata=me,
        )
    )
    fetched = (await stub.GetUser(pb.GetUserRequest(user_id=user.id), metadata=me)).user

    assert (updated.name, updated.phone, updated.birth_date, updated.email) == (
        "Budi S.",
        "+6281298765432",
        "1990-08-17",
        user.email,
    )
    assert bad[:2] == (INVALID, "VALIDATION_FAILED")
    assert set(bad[2]) == {"user.birth_date", "user.avatar_url"}
    assert email_mask[:2] == (INVALID, "INVALID_UPDATE_MASK")
    assert fetched == updated


@pytest.mark.parametrize(
    "name", list(UNSEEN_OR_REORDERED_NAMES.values()), ids=list(UNSEEN_OR_REORDERED_NAMES)
)
async def test_a_profile_name_of_invisible_or_reordering_characters_is_refused(
    stub: Stub, sign_up: SignUp, name: str
) -> None:
    user, _ = await sign_up()

    refused = await failure(
        stub.UpdateUser(
            pb.UpdateUserRequest(user=pb.User(id="me", name=name), update_mask=FieldMask(paths=["name"])),
            metadata=metadata_of(user),
        )
    )
    signing_up = await failure(
        stub.SignUp(pb.SignUpRequest(email=unique_email(), password=PASSWORD, name=name))
    )
    kept = (await stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=metadata_of(user))).user

    assert refused == (INVALID, "INVALID_NAME", ["user.name"])
    assert signing_up == (INVALID, "INVALID_NAME", ["name"])
    assert kept.name == user.name


async def test_one_buyer_cannot_reach_another_buyers_account(stub: Stub, sign_up: SignUp) -> None:
    alice, _ = await sign_up()
    bob, _ = await sign_up()

    read = await failure(stub.GetUser(pb.GetUserRequest(user_id=bob.id), metadata=metadata_of(alice)))
    delete = await failure(stub.DeleteUser(pb.DeleteUserRequest(user_id=bob.id), metadata=metadata_of(alice)))
    anonymous = await failure(stub.GetUser(pb.GetUserRequest(user_id="me")))
    by_admin = (await stub.GetUser(pb.GetUserRequest(user_id=bob.id), metadata=as_admin())).user

    assert read[:2] == delete[:2] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_ACCOUNT")
    assert anonymous[0] == grpc.StatusCode.UNAUTHENTICATED
    assert by_admin.id == bob.id


# --- deletion -----------------------------------------------------------------------------------------------


async def test_deleting_an_account_wipes_it_frees_the_email_and_stops_sign_in(
    stub: Stub, sign_up: SignUp, events: EventLog, database: Database
) -> None:
    user, password = await sign_up(verified=True, phone="081234567890")
    me = metadata_of(user)
    await stub.CreateAddress(
        pb.CreateAddressRequest(
            user_id="me",
            address=pb.Address(
                recipient="Budi",
                phone="081234567890",
                province="Bali",
                city="Denpasar",
                district="Denpasar Timur",
                sub_district="Sumerta",
                postal_code="80236",
                street="Jl. Hayam Wuruk 15",
            ),
        ),
        metadata=me,
    )

    await stub.DeleteUser(pb.DeleteUserRequest(user_id="me"), metadata=me)
    await events.wait_for(events_pb2.UserDeleted, user.id)
    login = await failure(
        stub.VerifyCredentials(
            pb.VerifyCredentialsRequest(email=user.email, password=password), metadata=as_service()
        )
    )
    gone = await failure(stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=me))
    again, _ = await _sign_up_again(stub, user.email)
    async with database.sessions() as session:
        row = (await session.execute(select(users).where(users.c.id == user.id))).one()
        address_rows = (
            await session.execute(select(func.count()).where(addresses.c.user_id == user.id))
        ).scalar_one()

    assert login[:2] == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_CREDENTIALS")
    assert gone[:2] == (grpc.StatusCode.NOT_FOUND, "USER_NOT_FOUND")
    assert again.id != user.id
    assert (row.email, row.name, row.phone, row.password_hash) == (f"deleted-{user.id}@invalid", "", "", None)
    assert row.deleted_at is not None
    assert address_rows == 0


async def _sign_up_again(stub: Stub, email: str) -> tuple[pb.User, str]:
    return (
        await stub.SignUp(pb.SignUpRequest(email=email, password=PASSWORD, name="Budi Baru"))
    ).user, PASSWORD


async def test_only_admins_grant_the_admin_role(stub: Stub, sign_up: SignUp, events: EventLog) -> None:
    user, _ = await sign_up()

    refused = await failure(
        stub.GrantRole(pb.GrantRoleRequest(user_id=user.id, role="admin"), metadata=metadata_of(user))
    )
    granted = (
        await stub.GrantRole(pb.GrantRoleRequest(user_id=user.id, role="admin"), metadata=as_admin())
    ).user
    [changed] = await events.wait_for(events_pb2.UserRolesChanged, user.id)
    seller = await failure(
        stub.GrantRole(pb.GrantRoleRequest(user_id=user.id, role="seller"), metadata=as_admin())
    )

    assert refused[0] == grpc.StatusCode.PERMISSION_DENIED
    assert list(granted.roles) == list(changed.roles) == ["buyer", "admin"]
    assert seller[:2] == (INVALID, "INVALID_ROLE")


async def test_a_buyer_token_without_the_account_scope_is_refused(stub: Stub, sign_up: SignUp) -> None:
    user, _ = await sign_up()

    code, reason, _ = await failure(
        stub.GetUser(pb.GetUserRequest(user_id="me"), metadata=as_user(user.id, scopes=("openid",)))
    )

    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "SCOPE_REQUIRED")


async def test_asking_a_reset_for_a_malformed_email_is_a_bad_request(stub: Stub) -> None:
    for malformed in ("x", "a@b", "@toko.test"):
        code, reason, fields = await failure(
            stub.RequestPasswordReset(pb.RequestPasswordResetRequest(email=malformed))
        )
        assert (code, reason, fields) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_EMAIL", ["email"])
