"""The notice of a sign-in from a browser the account has not used: raised once per browser and account."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from auth_testkit import Events, FakeAccount, FakeUserService, hidden, listening, pkce_pair, sign_in

from toko.auth.v1.events_pb2 import SignedInFromNewBrowser as Notice
from toko.infra.servers import InfraEndpoints
from toko.platform.events import event_subject
from toko.services.auth.bootstrap import AuthService

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) " + " ".join(["KHTML"] * 60)


@pytest.fixture(scope="module")
async def notices(infrastructure: InfraEndpoints, auth: AuthService) -> AsyncIterator[Events]:
    """The provider's SignedInFromNewBrowser events from now on."""
    subject = event_subject("auth", Notice.DESCRIPTOR.name)
    async with listening(infrastructure.nats_url, subject, Notice) as events:
        yield events


def authorize_url(redirect_uri: str) -> str:
    return "/oauth2/authorize?" + str(
        httpx.QueryParams(
            response_type="code",
            client_id="storefront",
            redirect_uri=redirect_uri,
            scope="openid",
            code_challenge=pkce_pair()[1],
            code_challenge_method="S256",
        )
    )


def a_browser(base_url: str, ip: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url, headers={"x-forwarded-for": ip, "user-agent": BROWSER}, timeout=20
    )


async def signed_in_again(browser: httpx.AsyncClient, storefront: str, email: str) -> None:
    """Sign in with the password even though the browser may have a session (prompt=login)."""
    answer = await sign_in(browser, authorize_url(storefront) + "&prompt=login", email=email)
    assert answer.status_code == 303, answer.text


async def test_a_new_browser_is_told_once_and_the_same_browser_never_again(
    base_url: str, storefront: str, notices: Events, fake_users: tuple[FakeUserService, str]
) -> None:
    owner = fake_users[0].add(FakeAccount(email=f"ani-{uuid.uuid4().hex[:6]}@toko.test", language="en"))
    other = fake_users[0].add(FakeAccount(email=f"eko-{uuid.uuid4().hex[:6]}@toko.test"))
    async with a_browser(base_url, "10.20.30.40") as browser:
        await signed_in_again(browser, storefront, owner.email)
        [notice] = await notices.wait_for(Notice, user_id=owner.user_id)
        device = next(c for c in browser.cookies.jar if c.name == "toko_auth_device")
        await signed_in_again(browser, storefront, owner.email)
        # Another account in the same browser is new to it.
        await signed_in_again(browser, storefront, other.email)
        await notices.wait_for(Notice, user_id=other.user_id)
    async with a_browser(base_url, "10.20.30.41") as elsewhere:
        await signed_in_again(elsewhere, storefront, owner.email)
        first, second = await notices.wait_for(Notice, 2, user_id=owner.user_id)

    assert notice is first
    assert (notice.email, notice.language) == (owner.email, "en")
    assert (notice.client_id, notice.client_name) == ("storefront", "toko storefront")
    assert notice.ip_address == "10.20.30.40"
    assert notice.user_agent == BROWSER[:200]
    assert notice.sign_in_time.seconds > 0
    assert second.ip_address == "10.20.30.41"
    assert device.path == "/oauth2/"
    assert device.has_nonstandard_attr("HttpOnly")
    assert device.expires is not None
    assert owner.user_id not in (device.value or "")


async def test_a_two_factor_sign_in_is_told_after_its_code(
    base_url: str, storefront: str, notices: Events, fake_users: tuple[FakeUserService, str]
) -> None:
    seller = fake_users[0].add(FakeAccount(email=f"tuti-{uuid.uuid4().hex[:6]}@toko.test", totp=True))
    async with a_browser(base_url, "10.20.30.42") as browser:
        step = await sign_in(browser, authorize_url(storefront), email=seller.email)
        before = list(notices.of(Notice, user_id=seller.user_id))
        done = await browser.post(
            "/oauth2/login/totp",
            data={
                "csrf_token": hidden(step.text, "csrf_token"),
                "pending": hidden(step.text, "pending"),
                "return_to": hidden(step.text, "return_to"),
                "code": "246810",
            },
        )
        [notice] = await notices.wait_for(Notice, user_id=seller.user_id)

    assert before == []
    assert done.status_code == 303
    assert notice.email == seller.email


async def test_a_forged_device_cookie_makes_the_browser_new(
    base_url: str, storefront: str, notices: Events, fake_users: tuple[FakeUserService, str]
) -> None:
    account = fake_users[0].add(FakeAccount(email=f"dedi-{uuid.uuid4().hex[:6]}@toko.test"))
    async with a_browser(base_url, "10.20.30.43") as browser:
        browser.cookies.set("toko_auth_device", "a~b~c.forged", domain="127.0.0.1", path="/oauth2/")
        await signed_in_again(browser, storefront, account.email)
        [notice] = await notices.wait_for(Notice, user_id=account.user_id)

    assert notice.email == account.email
