"""Identity through the front door: OAuth 2.1 sign-in with a client library we did not write, then
object-level authorization on the real services."""

from __future__ import annotations

import json
import re
import time
import uuid
from html import unescape
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import grpc
import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client

from toko.inventory.v1 import inventory_pb2, inventory_pb2_grpc

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = pytest.mark.e2e
REDIRECT_URI = "http://localhost:8765/callback"
SCOPE = "openid profile email offline_access account shop.manage catalog.write"


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{re.escape(name)}" value="([^"]*)"', html)
    assert match, f"no {name} field in the page"
    return unescape(match.group(1))


def post_login(browser: httpx.Client, login_page: str, email: str, password: str) -> httpx.Response:
    """Fill in and send the login form of ``login_page``."""
    return browser.post(
        "/oauth2/login",
        data={
            "csrf_token": hidden(login_page, "csrf_token"),
            "return_to": hidden(login_page, "return_to"),
            "email": email,
            "password": password,
        },
    )


def sign_in(platform: Platform, account: dict[str, Any]) -> tuple[OAuth2Client, dict[str, Any]]:
    """Authorization code + PKCE for the storefront client, filling in the login form over HTTP."""
    oauth = OAuth2Client(
        client_id="storefront",
        redirect_uri=REDIRECT_URI,
        scope=SCOPE,
        code_challenge_method="S256",
        token_endpoint_auth_method="none",
        base_url=platform.base_url,
    )
    verifier = uuid.uuid4().hex + uuid.uuid4().hex
    url, state = oauth.create_authorization_url(
        f"{platform.base_url}/oauth2/authorize", code_verifier=verifier
    )
    with httpx.Client(base_url=platform.base_url, timeout=30) as browser:
        page = browser.get(url, follow_redirects=True)
        assert page.status_code == 200, page.text
        answer = post_login(browser, page.text, account["email"], account["password"])
        location = answer.headers.get("location", "")
        while location and not location.startswith(REDIRECT_URI):
            answer = browser.get(location)
            location = answer.headers.get("location", "")
    assert location.startswith(REDIRECT_URI), answer.text
    assert parse_qs(urlsplit(location).query)["state"] == [state]
    token = oauth.fetch_token(
        f"{platform.base_url}/oauth2/token", authorization_response=location, code_verifier=verifier
    )
    return oauth, token


def test_a_buyer_signs_in_refreshes_calls_the_api_and_is_refused_after_revoking(platform: Platform) -> None:
    buyer = platform.account("buyer")
    oauth, token = sign_in(platform, buyer)
    assert token["id_token"]
    me = oauth.get("/v1/users/me")
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == buyer["email"]

    old_refresh = token["refresh_token"]
    refreshed = oauth.refresh_token(f"{platform.base_url}/oauth2/token", refresh_token=old_refresh)
    assert refreshed["access_token"] != token["access_token"]
    assert oauth.get("/v1/users/me").status_code == 200

    # A refresh token is single use: presenting the old one again revokes the whole family.
    reuse = httpx.post(
        f"{platform.base_url}/oauth2/token",
        data={"grant_type": "refresh_token", "refresh_token": old_refresh, "client_id": "storefront"},
    )
    assert reuse.status_code == 400
    assert reuse.json()["error"] == "invalid_grant"
    family_gone = httpx.post(
        f"{platform.base_url}/oauth2/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed["refresh_token"],
            "client_id": "storefront",
        },
    )
    assert family_gone.status_code == 400


def test_a_buyer_reaches_only_their_own_data(platform: Platform) -> None:
    first, _ = sign_in(platform, platform.account("buyer", 0))
    second_user_id = platform.account("buyer", 1)["user_id"]
    own = first.get("/v1/users/me/addresses")
    assert own.status_code == 200, own.text
    other = first.get(f"/v1/users/{second_user_id}/addresses")
    assert other.status_code in (403, 404)
    assert other.headers["content-type"].startswith("application/problem+json")
    assert first.get(f"/v1/users/{second_user_id}").status_code == 403
    seller_only = first.post(
        "/v1/products", json={"shopId": platform.account("seller")["shop_id"], "title": "Tidak boleh"}
    )
    assert seller_only.status_code == 403


def test_a_seller_edits_their_own_products_and_not_another_shops(platform: Platform) -> None:
    seller = platform.account("seller", 0)
    oauth, _ = sign_in(platform, seller)
    with platform.client() as client:
        own = client.get("/v1/products", params={"shop_id": seller["shop_id"], "page_size": 1}).json()[
            "products"
        ][0]
        foreign_shop = platform.account("seller", 1)["shop_id"]
        foreign = client.get("/v1/products", params={"shop_id": foreign_shop, "page_size": 1}).json()[
            "products"
        ][0]
    renamed = oauth.patch(
        f"/v1/products/{own['id']}", params={"updateMask": "title"}, json={"title": "Judul Baru Dari Penjual"}
    )
    assert renamed.status_code == 200, renamed.text
    refused = oauth.patch(
        f"/v1/products/{foreign['id']}", params={"updateMask": "title"}, json={"title": "Bukan Punyaku"}
    )
    assert refused.status_code == 403
    assert refused.json()["reason"] == "NOT_SHOP_OWNER"
    with platform.client() as client:
        assert client.get(f"/v1/products/{foreign['id']}").json()["product"]["title"] == foreign["title"]


def test_forged_and_foreign_tokens_are_refused_at_the_gateway(platform: Platform) -> None:
    header, payload, _ = platform.admin_token.split(".")
    with platform.client() as client:
        unsigned = client.get("/v1/users/me", headers={"Authorization": f"Bearer {header}.{payload}."})
        tampered = client.get("/v1/users/me", headers={"Authorization": f"Bearer {header}.{payload}.AAAA"})
    for response in (unsigned, tampered):
        assert response.status_code == 401
        assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_revoked_token_is_refused_by_a_service_called_directly(platform: Platform) -> None:
    """Revocation reaches every verifier (the auth service's events), not only the gateway's deny-list."""
    token = platform.scripts_token("admin")
    state = json.loads((platform.data_dir / "run" / "state.json").read_text())
    address = next(s for s in state["services"] if s["name"] == "inventory")["address"]
    metadata = (("authorization", f"Bearer {token}"),)
    with grpc.insecure_channel(address) as channel:
        stub = inventory_pb2_grpc.InventoryServiceStub(channel)

        def list_warehouses() -> tuple[grpc.StatusCode, str]:
            try:
                stub.ListWarehouses(
                    inventory_pb2.ListWarehousesRequest(page_size=1), metadata=metadata, timeout=10
                )
            except grpc.RpcError as error:
                return error.code(), error.details() or ""
            return grpc.StatusCode.OK, ""

        assert list_warehouses()[0] == grpc.StatusCode.OK
        client = platform.credentials["clients"]["toko-scripts"]
        revoked = httpx.post(
            f"{platform.base_url}/oauth2/revoke",
            data={"token": token, "token_type_hint": "access_token"},
            auth=(client["client_id"], client["client_secret"]),
            timeout=15,
        )
        assert revoked.status_code == 200

        # The event travels outbox -> JetStream -> every process; allow it a few seconds on a busy machine.
        deadline = time.monotonic() + 10
        while (outcome := list_warehouses())[0] == grpc.StatusCode.OK and time.monotonic() < deadline:
            time.sleep(0.1)
        assert outcome[0] == grpc.StatusCode.UNAUTHENTICATED, outcome
        assert "revoked" in outcome[1]
    # The gateway refuses it on public routes too, where its Valkey deny-list is not consulted.
    public = httpx.get(f"{platform.base_url}/v1/categories", headers={"Authorization": f"Bearer {token}"})
    assert public.status_code == 401


def test_no_password_token_or_client_secret_reaches_the_logs(platform: Platform) -> None:
    account = platform.account("buyer", 2)
    oauth, token = sign_in(platform, account)
    assert oauth.get("/v1/users/me").status_code == 200
    wrong_password = f"Salah-{uuid.uuid4().hex}"
    with httpx.Client(base_url=platform.base_url, timeout=30) as browser:
        page = browser.get(
            "/oauth2/authorize",
            params={
                "response_type": "code",
                "client_id": "storefront",
                "redirect_uri": REDIRECT_URI,
                "scope": "openid",
                "state": "s",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGHtrcXE0c",
                "code_challenge_method": "S256",
            },
            follow_redirects=True,
        )
        refused = post_login(browser, page.text, account["email"], wrong_password)
    assert refused.status_code in (200, 400, 401)  # the form again, with an error
    client_secret = platform.credentials["clients"]["toko-scripts"]["client_secret"]
    jwts = [token["access_token"], token["id_token"], platform.admin_token]
    secrets = {
        "password": account["password"],
        "wrong password": wrong_password,
        "refresh token": token["refresh_token"],
        "client secret": client_secret,
        # A JWT without its signature cannot be used; with it, it can.
        **{f"token signature {n}": jwt.rsplit(".", 1)[1] for n, jwt in enumerate(jwts)},
    }
    time.sleep(1)  # let the processes' last lines reach their files
    logs = {
        path.name: path.read_text(errors="replace") for path in (platform.data_dir / "logs").glob("*.log")
    }
    assert {"gateway.log", "auth.log", "user.log"} <= set(logs)
    assert '"route":"/oauth2/login"' in logs["gateway.log"]  # the sign-ins were logged, secrets aside
    leaks = [
        (what, name) for name, text in logs.items() for what, secret in secrets.items() if secret in text
    ]
    assert leaks == []
