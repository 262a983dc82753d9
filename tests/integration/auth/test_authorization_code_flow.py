"""The authorization code flow with PKCE, driven by Authlib's OAuth client through the login form."""

from __future__ import annotations

import httpx
import pytest
from auth_testkit import AsyncOAuth2Client, FakeAccount, FakeUserService, hidden, query_of, sign_in
from joserfc import jwt
from joserfc.jwk import KeySet

SCOPE = "openid profile email offline_access account"


def storefront_client(base_url: str, redirect_uri: str) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id="storefront",
        redirect_uri=redirect_uri,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        base_url=base_url,
    )


async def test_full_flow_login_tokens_userinfo_refresh_revoke(
    base_url: str, storefront: str, browser: httpx.AsyncClient, buyer: FakeAccount
) -> None:
    oauth = storefront_client(base_url, storefront)
    verifier = "v" * 20 + "-" + "x" * 30
    url, state = oauth.create_authorization_url(
        f"{base_url}/oauth2/authorize", code_verifier=verifier, nonce="nonce-123"
    )

    signed_in = await sign_in(browser, url, email=buyer.email)
    assert signed_in.status_code == 303
    back = await browser.get(signed_in.headers["location"])
    assert back.status_code == 302
    callback = back.headers["location"]
    assert callback.startswith(storefront)
    assert query_of(callback)["state"] == state
    assert query_of(callback)["iss"] == base_url

    token = await oauth.fetch_token(
        f"{base_url}/oauth2/token", authorization_response=callback, code_verifier=verifier
    )
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == set(SCOPE.split())
    assert token["refresh_token"]
    assert token["id_token"]

    keys = KeySet.import_key_set((await browser.get("/oauth2/jwks")).json())
    access = jwt.decode(token["access_token"], keys, algorithms=["ES256"])
    assert access.header["typ"] == "at+jwt"
    assert access.claims["sub"] == buyer.user_id
    assert access.claims["aud"] == "toko-api"
    assert access.claims["iss"] == base_url
    assert access.claims["client_id"] == "storefront"
    assert access.claims["roles"] == ["buyer"]
    assert access.claims["exp"] - access.claims["iat"] == 900
    identity = jwt.decode(token["id_token"], keys, algorithms=["ES256"]).claims
    assert identity["aud"] == "storefront"
    assert identity["nonce"] == "nonce-123"
    assert identity["email"] == buyer.email
    assert identity["name"] == buyer.name
    assert "at_hash" in identity
    assert "auth_time" in identity

    info = await oauth.get("/oauth2/userinfo")
    assert info.status_code == 200
    assert info.json()["sub"] == buyer.user_id
    assert info.json()["email"] == buyer.email

    old_refresh = token["refresh_token"]
    refreshed = await oauth.refresh_token(f"{base_url}/oauth2/token", refresh_token=old_refresh)
    assert refreshed["refresh_token"] != old_refresh
    assert refreshed["access_token"] != token["access_token"]

    revoked = await oauth.revoke_token(f"{base_url}/oauth2/revoke", token=refreshed["access_token"])
    assert revoked.status_code == 200
    refused = await oauth.get("/oauth2/userinfo")
    assert refused.status_code == 401
    assert "invalid_token" in refused.headers["www-authenticate"]
    await oauth.aclose()


async def test_second_authorization_skips_the_login(
    base_url: str, storefront: str, browser: httpx.AsyncClient, buyer: FakeAccount
) -> None:
    oauth = storefront_client(base_url, storefront)
    first, _ = oauth.create_authorization_url(f"{base_url}/oauth2/authorize", code_verifier="a" * 50)
    signed_in = await sign_in(browser, first, email=buyer.email)
    await browser.get(signed_in.headers["location"])

    second, _ = oauth.create_authorization_url(f"{base_url}/oauth2/authorize", code_verifier="b" * 50)
    again = await browser.get(second)
    assert again.status_code == 302
    assert "code" in query_of(again.headers["location"])
    await oauth.aclose()


async def test_a_totp_account_needs_its_code(
    base_url: str,
    storefront: str,
    browser: httpx.AsyncClient,
    fake_users: tuple[FakeUserService, str],
) -> None:
    seller = fake_users[0].add(
        FakeAccount(email="penjual-totp@toko.test", roles=("buyer", "seller"), totp=True)
    )
    oauth = storefront_client(base_url, storefront)
    url, _ = oauth.create_authorization_url(f"{base_url}/oauth2/authorize", code_verifier="c" * 50)
    step = await sign_in(browser, url, email=seller.email)
    assert step.status_code == 200
    assert 'name="code"' in step.text
    form = {
        "csrf_token": hidden(step.text, "csrf_token"),
        "pending": hidden(step.text, "pending"),
        "return_to": hidden(step.text, "return_to"),
    }

    wrong = await browser.post("/oauth2/login/totp", data={**form, "code": "000000"})
    assert wrong.status_code == 401
    right = await browser.post("/oauth2/login/totp", data={**form, "code": "246810"})
    assert right.status_code == 303
    # The pending sign-in was single use.
    replay = await browser.post("/oauth2/login/totp", data={**form, "code": "246810"})
    assert replay.status_code == 400
    back = await browser.get(right.headers["location"])
    assert "code" in query_of(back.headers["location"])
    await oauth.aclose()


@pytest.mark.parametrize("scope", ["openid", "account"])
async def test_no_refresh_token_without_offline_access(
    base_url: str, storefront: str, browser: httpx.AsyncClient, buyer: FakeAccount, scope: str
) -> None:
    oauth = storefront_client(base_url, storefront)
    oauth.scope = scope
    url, _ = oauth.create_authorization_url(f"{base_url}/oauth2/authorize", code_verifier="d" * 50)
    signed_in = await sign_in(browser, url, email=buyer.email)
    back = await browser.get(signed_in.headers["location"])
    token = await oauth.fetch_token(
        f"{base_url}/oauth2/token", authorization_response=back.headers["location"], code_verifier="d" * 50
    )
    assert "refresh_token" not in token
    assert ("id_token" in token) == (scope == "openid")
    await oauth.aclose()
