"""The whole sign-in against the real user service: Authlib's client, the login form, a protected RPC.

The user service verifies the access tokens the provider issues against the
provider's JWKS, and the provider signs its own service token to call the
user service's internal RPCs; a password change ends the user's grants.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import nats
import nats.aio.msg
import pytest
from auth_testkit import AsyncOAuth2Client, real_user_settings, sign_in

from toko.common.v1.event_pb2 import EventEnvelope
from toko.infra.servers import InfraEndpoints
from toko.services.auth.bootstrap import AuthService
from toko.services.auth.revocations import revoked_key
from toko.services.auth.settings import AuthSettings
from toko.user.v1 import events_pb2 as user_events_pb2
from toko.user.v1 import user_pb2, user_pb2_grpc

PASSWORD = "Rendang-Padang-2024"


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints, user_port: int, tmp_path_factory: pytest.TempPathFactory
) -> AuthSettings:
    """The provider, pointing at the real user service."""
    return real_user_settings(infrastructure, user_port, tmp_path_factory)


async def test_sign_in_call_a_protected_api_refresh_revoke_and_change_password(
    base_url: str,
    storefront: str,
    browser: httpx.AsyncClient,
    users: user_pb2_grpc.UserServiceAsyncStub,
    auth: AuthService,
) -> None:
    email = f"siti-{uuid.uuid4().hex[:6]}@tokodemo.id"
    await users.SignUp(user_pb2.SignUpRequest(email=email, password=PASSWORD, name="Siti Rahayu"))

    oauth = AsyncOAuth2Client(
        client_id="storefront",
        redirect_uri=storefront,
        scope="openid email profile offline_access account",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        base_url=base_url,
    )
    url, _ = oauth.create_authorization_url(
        f"{base_url}/oauth2/authorize", code_verifier=uuid.uuid4().hex * 2
    )
    wrong = await sign_in(browser, url, email=email, password="bukan-kata-sandinya")
    assert wrong.status_code == 401
    token = await _signed_in(oauth, browser, base_url, email)

    me = await users.GetUser(
        user_pb2.GetUserRequest(user_id="me"),
        metadata=(("authorization", f"Bearer {token['access_token']}"),),
    )
    assert me.user.email == email
    assert (await oauth.get("/oauth2/userinfo")).json()["name"] == "Siti Rahayu"

    refreshed = await oauth.refresh_token(f"{base_url}/oauth2/token", refresh_token=token["refresh_token"])
    await users.ChangePassword(
        user_pb2.ChangePasswordRequest(user_id="me", current_password=PASSWORD, new_password=PASSWORD + "!"),
        metadata=(("authorization", f"Bearer {refreshed['access_token']}"),),
    )

    async def refresh_refused() -> bool:
        response = await browser.post(
            "/oauth2/token",
            data={
                "grant_type": "refresh_token",
                "client_id": "storefront",
                "refresh_token": refreshed["refresh_token"],
            },
        )
        return response.status_code == 400

    # PasswordChanged travels through the user service's outbox and JetStream to the provider.
    for _ in range(200):
        if await refresh_refused():
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the password change did not revoke the refresh token")
    refused = await oauth.get("/oauth2/userinfo")
    assert refused.status_code == 401
    denied = await auth.provider.valkey.get(revoked_key(_claims(refreshed["access_token"])["jti"]))
    assert denied == b"REVOCATION_CAUSE_PASSWORD_CHANGED"
    await oauth.aclose()


async def test_a_role_change_ends_the_access_tokens_and_the_next_refresh_carries_the_new_roles(
    base_url: str,
    storefront: str,
    browser: httpx.AsyncClient,
    users: user_pb2_grpc.UserServiceAsyncStub,
    infrastructure: InfraEndpoints,
    auth: AuthService,
) -> None:
    email = f"budi-{uuid.uuid4().hex[:6]}@tokodemo.id"
    await _sign_up_verified(users, infrastructure, email)
    oauth = AsyncOAuth2Client(
        client_id="storefront",
        redirect_uri=storefront,
        scope="openid profile offline_access account shop.manage",
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        base_url=base_url,
    )
    token = await _signed_in(oauth, browser, base_url, email)
    assert "seller" not in _claims(token["access_token"])["roles"]

    # Opening a shop makes the buyer a seller: UserRolesChanged travels to the provider.
    await users.OpenShop(
        user_pb2.OpenShopRequest(
            name="Toko Budi", domain=f"budi-{uuid.uuid4().hex[:6]}", origin_city="Surabaya"
        ),
        metadata=(("authorization", f"Bearer {token['access_token']}"),),
    )
    for _ in range(200):
        if (await oauth.get("/oauth2/userinfo")).status_code == 401:
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the role change did not end the access token")
    # The user service, called directly with the old token, refuses it too: the provider's
    # AccessTokensRevoked event reached it (toko.platform.revocation).
    old_token = (("authorization", f"Bearer {token['access_token']}"),)
    me = user_pb2.GetUserRequest(user_id=_claims(token["access_token"])["sub"])

    async def direct_call() -> tuple[grpc.StatusCode, str]:
        try:
            await users.GetUser(me, metadata=old_token)
        except grpc.aio.AioRpcError as error:
            return error.code(), error.details() or ""
        return grpc.StatusCode.OK, ""

    for _ in range(200):
        outcome = await direct_call()
        if outcome[0] != grpc.StatusCode.OK:
            break
        await asyncio.sleep(0.05)
    # Told why, so the client refreshes the token instead of signing in again.
    assert outcome[0] == grpc.StatusCode.UNAUTHENTICATED, outcome
    assert "refresh it" in outcome[1]
    denied = await auth.provider.valkey.get(revoked_key(_claims(token["access_token"])["jti"]))
    assert denied == b"REVOCATION_CAUSE_ROLES_CHANGED"

    refreshed = await oauth.refresh_token(f"{base_url}/oauth2/token", refresh_token=token["refresh_token"])
    assert "seller" in _claims(refreshed["access_token"])["roles"]
    assert (await oauth.get("/oauth2/userinfo")).status_code == 200
    await oauth.aclose()


def _claims(jwt: str) -> dict[str, Any]:
    """The claims of a JWT, unverified (the provider issued it in this test)."""
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


async def _sign_up_verified(
    users: user_pb2_grpc.UserServiceAsyncStub, infra: InfraEndpoints, email: str
) -> None:
    """Sign up and follow the emailed verification link (opening a shop needs a verified address)."""
    client = await nats.connect(infra.nats_url)
    requested: asyncio.Queue[str] = asyncio.Queue()

    async def collect(message: nats.aio.msg.Msg) -> None:
        envelope = EventEnvelope.FromString(message.data)
        event = user_events_pb2.EmailVerificationRequested()
        if envelope.payload.Unpack(event) and event.email == email:
            await requested.put(parse_qs(urlsplit(event.verification_url).query)["token"][0])

    subscription = await client.subscribe("toko.user.>", cb=collect)
    try:
        await users.SignUp(user_pb2.SignUpRequest(email=email, password=PASSWORD, name="Budi Santoso"))
        token = await asyncio.wait_for(requested.get(), 10)
        await users.VerifyEmail(user_pb2.VerifyEmailRequest(token=token))
    finally:
        await subscription.unsubscribe()
        await client.close()


async def _signed_in(
    oauth: AsyncOAuth2Client, browser: httpx.AsyncClient, base_url: str, email: str
) -> dict[str, Any]:
    """The tokens of an authorization code flow with PKCE, signing in on the login form."""
    verifier = uuid.uuid4().hex + uuid.uuid4().hex
    url, _ = oauth.create_authorization_url(f"{base_url}/oauth2/authorize", code_verifier=verifier)
    signed_in = await sign_in(browser, url, email=email, password=PASSWORD)
    assert signed_in.status_code == 303
    callback = (await browser.get(signed_in.headers["location"])).headers["location"]
    return dict(
        await oauth.fetch_token(
            f"{base_url}/oauth2/token", authorization_response=callback, code_verifier=verifier
        )
    )
