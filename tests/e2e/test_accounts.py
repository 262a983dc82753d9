"""A person's account from the first page to the first product: sign up on the page, follow the emailed
link (twice) from the sandbox's mailbox, sign in with `toko token`, open a shop, be told to refresh the old token, list a product."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
from test_identity import hidden
from test_token_command import toko_token

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = pytest.mark.e2e
PASSWORD = "Es-Teh-Manis-Dingin-2026"
PROBLEM = "application/problem+json"


def verification_link(platform: Platform, email: str) -> str:
    """The link in the verification email the sandbox's mailbox received for ``email``."""
    [message] = platform.mail_to(email)
    assert message["subject"] == "Verify your email address on toko"
    [link] = [link for link in message["links"] if "/account/verify-email" in link]
    return str(link)


def signed_in(platform: Platform, *args: str, stdin: str = "") -> str:
    """The access token ``toko token`` prints."""
    result = toko_token(platform, *args, stdin=stdin)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def new_product(category_id: str, shop_id: str) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "shopId": shop_id,
        "categoryId": category_id,
        "title": f"Keripik Singkong Balado {suffix}",
        "description": "Pedas manis, renyah, dari Padang.",
        "condition": "CONDITION_NEW",
        "status": "PRODUCT_STATUS_ACTIVE",
        "weightGrams": 250,
        "dimensions": {"lengthMm": 200, "widthMm": 120, "heightMm": 60},
        "skus": [{"code": f"KSB-{suffix}", "price": {"amount": "25000", "currency": "IDR"}}],
    }


def test_sign_up_verify_sign_in_open_a_shop_refresh_and_list_a_product(platform: Platform) -> None:
    email = f"sari-{uuid.uuid4().hex[:8]}@tokodemo.id"

    # Sign up on the page, as a browser posts the form.
    with platform.client() as browser:
        form = browser.get("/account/signup?lang=en")
        signed_up = browser.post(
            "/account/signup?lang=en",
            data={
                "csrf_token": hidden(form.text, "csrf_token"),
                "attempt": hidden(form.text, "attempt"),
                "return_to": "",
                "email": email,
                "name": "Sari Lestari",
                "password": PASSWORD,
                "language": "en",
            },
        )
    assert signed_up.status_code == 200, signed_up.text
    assert "A verification link is on its way" in signed_up.text

    # The emailed link, opened twice (a mail scanner may have opened it first): verified both times.
    link = urlsplit(verification_link(platform, email))
    with platform.client() as browser:
        opened = [browser.get(f"{link.path}?{link.query}") for _ in range(2)]
    assert [page.status_code for page in opened] == [200, 200]
    assert all(f"{email} is verified" in page.text for page in opened)

    # Sign in from the shell, then open a shop with the buyer's token.
    token = signed_in(platform, "--user", email, "--password-stdin", stdin=f"{PASSWORD}\n")
    bearer = {"Authorization": f"Bearer {token}"}
    with platform.client() as client:
        opened_shop = client.post(
            "/v1/shops",
            json={"name": "Keripik Sari", "domain": f"sari-{uuid.uuid4().hex[:8]}", "originCity": "Padang"},
            headers=bearer,
        )
        assert opened_shop.status_code == 200, opened_shop.text
        shop_id = opened_shop.json()["shop"]["id"]

        # The buyer's token no longer carries the account's roles: refused, saying to refresh it.
        deadline = time.monotonic() + 30
        refused = client.get("/v1/users/me", headers=bearer)
        while refused.status_code == 200 and time.monotonic() < deadline:
            time.sleep(0.2)
            refused = client.get("/v1/users/me", headers=bearer)
    assert refused.status_code == 401, refused.text
    assert refused.headers["content-type"].startswith(PROBLEM)
    assert refused.json()["reason"] == "TOKEN_ROLES_CHANGED"
    assert "refresh" in refused.json()["detail"]

    # Refreshing gives a token with the seller role and the shop, and with it the shop lists a product.
    fresh = signed_in(platform, "--user", email, "--refresh")
    assert "seller" in claims(fresh)["roles"]
    assert claims(fresh)["shop_id"] == shop_id
    with platform.client() as client:
        category_id = client.get("/v1/products", params={"page_size": 1}).json()["products"][0]["categoryId"]
        listed = client.post(
            "/v1/products",
            json=new_product(category_id, shop_id),
            headers={"Authorization": f"Bearer {fresh}"},
        )
    assert listed.status_code == 200, listed.text
    assert listed.json()["product"]["shopId"] == shop_id
