"""Requests that must fail: bad redirect URIs, PKCE mistakes, replayed codes, reused refresh tokens, CSRF."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx
import pytest
from auth_testkit import FakeAccount, hidden, pkce_pair, query_of, sign_in


def authorize_url(redirect_uri: str, challenge: str, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": "storefront",
        "redirect_uri": redirect_uri,
        "scope": "openid offline_access",
        "state": "s-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return f"/oauth2/authorize?{urlencode({k: v for k, v in params.items() if v is not None})}"


async def code_for(browser: httpx.AsyncClient, storefront: str, email: str, challenge: str) -> str:
    signed_in = await sign_in(browser, authorize_url(storefront, challenge), email=email)
    back = await browser.get(signed_in.headers["location"])
    return query_of(back.headers["location"])["code"]


async def exchange(
    browser: httpx.AsyncClient, redirect_uri: str, code: str, verifier: str | None
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "client_id": "storefront",
        "code": code,
        "redirect_uri": redirect_uri,
    }
    if verifier is not None:
        form["code_verifier"] = verifier
    return await browser.post("/oauth2/token", data=form)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://127.0.0.1:8765/callback/../evil",
        "http://127.0.0.1:8765/callback?x=1",
        "http://127.0.0.1:8765/CALLBACK",
        "https://evil.example/callback",
        "",
    ],
)
async def test_an_unregistered_redirect_uri_shows_an_error_page_and_never_redirects(
    browser: httpx.AsyncClient, storefront: str, redirect_uri: str
) -> None:
    response = await browser.get(authorize_url(redirect_uri, pkce_pair()[1]))
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "text/html" in response.headers["content-type"]


async def test_an_unknown_client_shows_an_error_page(browser: httpx.AsyncClient, storefront: str) -> None:
    url = authorize_url(storefront, pkce_pair()[1]).replace("client_id=storefront", "client_id=nobody")
    response = await browser.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"scope": "openid admin"}, "invalid_scope"),
    ],
)
async def test_bad_requests_are_sent_back_to_the_client_with_an_error(
    browser: httpx.AsyncClient, storefront: str, extra: dict[str, str | None], error: str
) -> None:
    params = {"challenge": pkce_pair()[1]}
    url = authorize_url(storefront, params["challenge"], **extra)  # type: ignore[arg-type]
    response = await browser.get(url)
    assert response.status_code == 302
    assert response.headers["location"].startswith(storefront)
    assert query_of(response.headers["location"])["error"] == error
    assert query_of(response.headers["location"])["state"] == "s-1"


@pytest.mark.parametrize("verifier", [None, "w" * 43, "too-short"])
async def test_a_missing_or_wrong_pkce_verifier_is_invalid_grant(
    browser: httpx.AsyncClient, storefront: str, buyer: FakeAccount, verifier: str | None
) -> None:
    _, challenge = pkce_pair()
    code = await code_for(browser, storefront, buyer.email, challenge)
    response = await exchange(browser, storefront, code, verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


async def test_a_replayed_code_is_refused_and_the_tokens_it_gave_are_revoked(
    browser: httpx.AsyncClient, storefront: str, buyer: FakeAccount
) -> None:
    verifier, challenge = pkce_pair()
    code = await code_for(browser, storefront, buyer.email, challenge)
    first = await exchange(browser, storefront, code, verifier)
    assert first.status_code == 200
    tokens = first.json()

    replay = await exchange(browser, storefront, code, verifier)
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"

    refreshed = await browser.post(
        "/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "client_id": "storefront",
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refreshed.json()["error"] == "invalid_grant"
    info = await browser.get(
        "/oauth2/userinfo", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert info.status_code == 401


async def test_a_reused_refresh_token_revokes_its_whole_family(
    browser: httpx.AsyncClient, storefront: str, buyer: FakeAccount
) -> None:
    verifier, challenge = pkce_pair()
    code = await code_for(browser, storefront, buyer.email, challenge)
    tokens = (await exchange(browser, storefront, code, verifier)).json()

    def refresh(token: str) -> dict[str, str]:
        return {"grant_type": "refresh_token", "client_id": "storefront", "refresh_token": token}

    second = (await browser.post("/oauth2/token", data=refresh(tokens["refresh_token"]))).json()
    assert "refresh_token" in second
    reuse = await browser.post("/oauth2/token", data=refresh(tokens["refresh_token"]))
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    # The legitimate holder's newer token died with the family, and so did its access token.
    newest = await browser.post("/oauth2/token", data=refresh(second["refresh_token"]))
    assert newest.json()["error"] == "invalid_grant"
    info = await browser.get(
        "/oauth2/userinfo", headers={"authorization": f"Bearer {second['access_token']}"}
    )
    assert info.status_code == 401


async def test_a_login_post_without_the_csrf_token_is_refused(
    browser: httpx.AsyncClient, storefront: str, buyer: FakeAccount
) -> None:
    page = await browser.get(authorize_url(storefront, pkce_pair()[1]))
    form = {
        "return_to": hidden(page.text, "return_to"),
        "email": buyer.email,
        "password": "kata-sandi-rahasia-1",
    }
    missing = await browser.post("/oauth2/login", data=form)
    assert missing.status_code == 403
    forged = await browser.post("/oauth2/login", data={**form, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert "toko_auth_session" not in browser.cookies


async def test_unknown_email_and_wrong_password_get_the_same_answer(
    base_url: str, storefront: str, buyer: FakeAccount
) -> None:
    answers = []
    for number, (email, password) in enumerate(
        [(buyer.email, "salah-sekali-123"), ("tidak-ada@toko.test", "salah-sekali-123")]
    ):
        async with httpx.AsyncClient(
            base_url=base_url, headers={"x-forwarded-for": f"10.9.9.{number}"}
        ) as client:
            response = await sign_in(
                client, authorize_url(storefront, pkce_pair()[1]), email=email, password=password
            )
        answers.append((response.status_code, response.text.replace(email, "EMAIL")))
    assert answers[0][0] == answers[1][0] == 401
    assert _without_tokens(answers[0][1]) == _without_tokens(answers[1][1])


def _without_tokens(html: str) -> str:
    # The CSRF token differs per browser and the way back per request (also in the links to the
    # account pages); everything else must be the same.
    import re

    html = re.sub(r'name="(csrf_token|return_to)" value="[^"]*"', "", html)
    return re.sub(r'\?return_to=[^"]*"', "", html)


async def test_failed_logins_are_throttled_per_account(
    base_url: str, storefront: str, buyer: FakeAccount
) -> None:
    statuses = []
    for attempt in range(4):
        async with httpx.AsyncClient(
            base_url=base_url, headers={"x-forwarded-for": f"10.8.8.{attempt}"}
        ) as client:
            response = await sign_in(
                client, authorize_url(storefront, pkce_pair()[1]), email=buyer.email, password="x" * 9
            )
            statuses.append(response.status_code)
    assert statuses == [401, 401, 401, 429]
    assert "too many attempts" in response.text.lower()
    # Even the right password waits for the window to pass.
    async with httpx.AsyncClient(base_url=base_url, headers={"x-forwarded-for": "10.8.8.99"}) as client:
        blocked = await sign_in(client, authorize_url(storefront, pkce_pair()[1]), email=buyer.email)
    assert blocked.status_code == 429


async def test_failed_logins_are_throttled_per_address(browser: httpx.AsyncClient, storefront: str) -> None:
    statuses = []
    for attempt in range(7):
        response = await sign_in(
            browser,
            authorize_url(storefront, pkce_pair()[1]),
            email=f"orang{attempt}@toko.test",
            password="x" * 9,
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 6 + [429]


async def test_logout_to_an_unregistered_uri_is_refused(
    browser: httpx.AsyncClient, storefront: str, buyer: FakeAccount
) -> None:
    await code_for(browser, storefront, buyer.email, pkce_pair()[1])
    refused = await browser.get(
        "/oauth2/logout",
        params={"client_id": "storefront", "post_logout_redirect_uri": "https://evil.example/", "state": "z"},
    )
    assert refused.status_code == 400
    assert "location" not in refused.headers

    confirm = await browser.get(
        "/oauth2/logout",
        params={
            "client_id": "storefront",
            "post_logout_redirect_uri": "http://127.0.0.1:8765/",
            "state": "z",
        },
    )
    assert confirm.status_code == 200
    done = await browser.post(
        "/oauth2/logout",
        data={
            "csrf_token": hidden(confirm.text, "csrf_token"),
            "client_id": "storefront",
            "post_logout_redirect_uri": "http://127.0.0.1:8765/",
            "state": "z",
        },
    )
    assert done.status_code == 303
    assert done.headers["location"] == "http://127.0.0.1:8765/?state=z"
    # Signed out: the next authorization asks for the password again.
    again = await browser.get(authorize_url(storefront, pkce_pair()[1]))
    assert again.status_code == 200
    assert 'name="password"' in again.text


@pytest.mark.parametrize(
    ("method", "path", "form", "headers"),
    [
        ("POST", "/oauth2/token", {"grant_type": "client_credentials", "client_id": "a\x00b"}, {}),
        (
            "POST",
            "/oauth2/token",
            {"grant_type": "client_credentials"},
            {"Authorization": "Basic dG9rbwBzY3JpcHRzOnNlY3JldA=="},  # "toko\0scripts:secret"
        ),
        ("POST", "/oauth2/revoke", {"token": "t\x00", "client_id": "storefront"}, {}),
        ("GET", "/oauth2/authorize?client_id=storefront%00&response_type=code", None, {}),
        ("POST", "/oauth2/authorize", {"client_id": "storefront", "state": "\x00"}, {}),
    ],
    ids=["form-client-id", "basic-client-id", "revoke-token", "authorize-query", "authorize-form"],
)
async def test_a_nul_character_in_any_parameter_is_a_400_invalid_request(
    browser: httpx.AsyncClient, method: str, path: str, form: dict[str, str] | None, headers: dict[str, str]
) -> None:
    # PostgreSQL cannot store U+0000: such a parameter once reached a client lookup and failed with a 500.
    response = await browser.request(method, path, data=form, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
