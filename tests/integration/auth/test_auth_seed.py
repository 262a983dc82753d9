"""The first-party clients seed: registered once, written to the demo credentials file, usable."""

from __future__ import annotations

import json
import re
import shlex
import stat
from html import unescape
from urllib.parse import urlencode

import httpx
from auth_testkit import FakeAccount, pkce_pair, query_of, sign_in

from toko.services.auth.bootstrap import AuthService
from toko.services.auth.seed import CREDENTIALS_FILE, seed
from toko.services.auth.settings import AuthSettings


async def test_seed_is_idempotent_and_its_script_client_gets_tokens(
    settings: AuthSettings, auth: AuthService, browser: httpx.AsyncClient
) -> None:
    path = settings.data_dir / CREDENTIALS_FILE
    path.write_text(json.dumps({"accounts": {"admin": {"email": "admin@toko.test"}}}))

    first = await seed(settings)
    second = await seed(settings)

    assert first == second
    written = json.loads(path.read_text())
    assert written["accounts"] == {"admin": {"email": "admin@toko.test"}}
    assert set(written["clients"]) == {"storefront", "api-docs", "toko-scripts"}
    assert "client_secret" not in written["clients"]["storefront"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    scripts = written["clients"]["toko-scripts"]
    response = await browser.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "scope": "catalog.write"},
        auth=(scripts["client_id"], scripts["client_secret"]),
    )
    assert response.status_code == 200


async def test_the_docs_client_is_seeded_for_swagger_uis_redirect_page(
    settings: AuthSettings, base_url: str, browser: httpx.AsyncClient
) -> None:
    await seed(settings)
    query = {
        "response_type": "code",
        "client_id": "api-docs",
        "redirect_uri": f"{base_url}/docs/oauth2-redirect.html",
        "scope": "openid account",
        "state": "swagger",
        "code_challenge": pkce_pair()[1],
        "code_challenge_method": "S256",
    }

    login = await browser.get(f"/oauth2/authorize?{urlencode(query)}")

    assert login.status_code == 200
    assert 'action="/oauth2/login"' in login.text
    assert "toko API docs" in login.text


async def test_the_storefronts_demo_redirect_shows_the_code_and_the_curl_that_exchanges_it(
    settings: AuthSettings, base_url: str, browser: httpx.AsyncClient, buyer: FakeAccount
) -> None:
    await seed(settings)
    verifier, challenge = pkce_pair()
    redirect_uri = f"{base_url}/oauth2/callback-demo"
    query = {
        "response_type": "code",
        "client_id": "storefront",
        "redirect_uri": redirect_uri,
        "scope": "openid account",
        "state": "demo-state",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    signed_in = await sign_in(browser, f"/oauth2/authorize?{urlencode(query)}", email=buyer.email)
    callback = (await browser.get(signed_in.headers["location"])).headers["location"]

    page = await browser.get(callback)
    curl = unescape(re.findall(r"<pre><code>(.*?)</code></pre>", page.text, re.S)[-1])
    words = shlex.split(curl.replace("\\\n", " "))
    form = dict(words[i + 1].split("=", 1) for i, word in enumerate(words) if word == "-d")
    exchanged = await browser.post(
        words[words.index("POST") + 1].removeprefix(base_url), data={**form, "code_verifier": verifier}
    )

    assert callback.startswith(redirect_uri)
    assert page.status_code == 200
    assert query_of(callback)["code"] in page.text
    assert "PKCE" in page.text
    assert form["redirect_uri"] == redirect_uri
    assert form["code_verifier"] == "YOUR_CODE_VERIFIER"
    assert exchanged.status_code == 200, exchanged.text
    assert exchanged.json()["token_type"] == "Bearer"


async def test_the_demo_redirect_shows_an_error_and_echoes_no_foreign_code_into_a_command(
    browser: httpx.AsyncClient,
) -> None:
    denied = await browser.get(
        "/oauth2/callback-demo",
        params={"error": "access_denied", "error_description": "the user denied the request", "state": "s"},
    )
    hostile = await browser.get("/oauth2/callback-demo", params={"code": "abc'; rm -rf ~; echo '"})

    assert denied.status_code == 400
    assert "access_denied: the user denied the request" in denied.text
    assert hostile.status_code == 200
    assert "curl" not in hostile.text
    assert "rm -rf" not in hostile.text
