"""The account pages against the real user service: sign up, verify, a new link, forgot and reset a password.

A person fills in server-rendered forms (no script); the links come from the user
service's events, as the notification service will mail them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from html import unescape
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from auth_testkit import Events, hidden, listening, real_user_settings

from toko.infra.servers import InfraEndpoints
from toko.services.auth.settings import AuthSettings
from toko.user.v1 import events_pb2 as user_events_pb2
from toko.user.v1 import user_pb2, user_pb2_grpc

PASSWORD = "Nasi-Goreng-Kambing-77"
Verification = user_events_pb2.EmailVerificationRequested
Reset = user_events_pb2.PasswordResetRequested


@pytest.fixture(scope="module")
def settings(
    infrastructure: InfraEndpoints, user_port: int, tmp_path_factory: pytest.TempPathFactory
) -> AuthSettings:
    """The provider, pointing at the real user service."""
    return real_user_settings(infrastructure, user_port, tmp_path_factory)


@pytest.fixture(scope="module")
async def mailbox(
    infrastructure: InfraEndpoints, users: user_pb2_grpc.UserServiceAsyncStub
) -> AsyncIterator[Events]:
    """The links the user service mails from now on."""
    async with listening(infrastructure.nats_url, "toko.user.>", Verification, Reset) as events:
        yield events


def unique_email() -> str:
    return f"rina-{uuid.uuid4().hex[:8]}@tokodemo.id"


def field_error(page: str, name: str) -> str:
    """The problem shown next to field ``name``, or ""."""
    match = re.search(rf'<p class="field-error" id="{name}-error">([^<]*)</p>', page)
    return unescape(match.group(1)) if match else ""


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def fill_in(browser: httpx.AsyncClient, page_url: str, **fields: str) -> httpx.Response:
    """Open a form page and post it with ``fields`` (hidden fields as the page has them)."""
    page = await browser.get(page_url)
    assert page.status_code == 200, page.text
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]
    hiddens = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', page.text))
    return await browser.post(action, data={**{k: unescape(v) for k, v in hiddens.items()}, **fields})


async def test_signing_up_on_the_page_mails_a_link_that_says_verified_on_every_click(
    browser: httpx.AsyncClient, mailbox: Events, base_url: str
) -> None:
    email = unique_email()
    form = await browser.get("/account/signup?lang=en")

    done = await fill_in(
        browser, "/account/signup?lang=en", email=email, name="Rina Wati", password=PASSWORD, language="en"
    )
    [mailed] = await mailbox.wait_for(Verification, email=email)
    first = await browser.get(path_of(mailed.verification_url))
    second = await browser.get(path_of(mailed.verification_url))

    assert "Create an account" in form.text
    assert "Path=/account/" in form.headers["set-cookie"]
    assert "HttpOnly" in form.headers["set-cookie"]
    assert done.status_code == 200
    assert f"A verification link is on its way to {email}" in done.text
    assert mailed.verification_url.startswith(f"{base_url}/account/verify-email?token=")
    assert (mailed.language, mailed.name) == ("en", "Rina Wati")
    assert first.status_code == second.status_code == 200
    assert f"{email} is verified" in first.text
    assert f"{email} is verified" in second.text


async def test_a_refused_sign_up_shows_each_problem_next_to_its_field_and_refills_the_form(
    browser: httpx.AsyncClient, users: user_pb2_grpc.UserServiceAsyncStub
) -> None:
    taken = unique_email()
    await users.SignUp(user_pb2.SignUpRequest(email=taken, password=PASSWORD, name="Rina"))
    browser.headers["accept-language"] = "en-GB;q=0.4, id-ID, id;q=0.9"

    wrong = await fill_in(
        browser, "/account/signup", email="rina@", name="\u200b", password="rahasia-bocor-123", language="id"
    )
    duplicate = await fill_in(browser, "/account/signup", email=taken, name="Rina", password=PASSWORD)

    assert wrong.status_code == 400
    assert '<html lang="id">' in wrong.text
    assert field_error(wrong.text, "email") == "Masukkan alamat email yang benar."
    assert field_error(wrong.text, "name").startswith("Isi nama yang terlihat")
    assert "rina@" in wrong.text
    assert "rahasia-bocor-123" not in wrong.text
    assert duplicate.status_code == 400
    assert field_error(duplicate.text, "email").startswith("Alamat ini sudah punya akun")
    assert 'value="' + taken + '"' in duplicate.text


async def test_a_form_posted_without_its_token_is_refused_and_creates_nothing(
    browser: httpx.AsyncClient, mailbox: Events
) -> None:
    email = unique_email()

    forged = await browser.post(
        "/account/signup", data={"email": email, "name": "Rina", "password": PASSWORD, "csrf_token": "x"}
    )

    assert forged.status_code == 403
    assert mailbox.of(Verification, email=email) == []


async def test_a_double_submission_creates_one_account(browser: httpx.AsyncClient, mailbox: Events) -> None:
    email = unique_email()
    page = await browser.get("/account/signup")
    form = {
        "csrf_token": hidden(page.text, "csrf_token"),
        "attempt": hidden(page.text, "attempt"),
        "return_to": "",
        "email": email,
        "name": "Rina",
        "password": PASSWORD,
    }

    first = await browser.post("/account/signup", data=form)
    second = await browser.post("/account/signup", data=form)

    assert first.status_code == second.status_code == 200
    assert len(await mailbox.wait_for(Verification, email=email)) == 1


async def test_a_dead_verification_link_offers_a_new_one_sent_to_whoever_proves_the_password(
    browser: httpx.AsyncClient, mailbox: Events, users: user_pb2_grpc.UserServiceAsyncStub
) -> None:
    email = unique_email()
    await users.SignUp(user_pb2.SignUpRequest(email=email, password=PASSWORD, name="Rina"))
    await mailbox.wait_for(Verification, email=email)

    dead = await browser.get("/account/verify-email?token=bukan-token&lang=en")
    wrong = await fill_in(
        browser, "/account/resend-verification?lang=en", email=email, password="salah-salah"
    )
    sent = await fill_in(browser, "/account/resend-verification?lang=en", email=email, password=PASSWORD)
    first, second = await mailbox.wait_for(Verification, 2, email=email)
    old = await browser.get(path_of(first.verification_url))
    new = await browser.get(path_of(second.verification_url))
    again = await fill_in(browser, "/account/resend-verification?lang=en", email=email, password=PASSWORD)

    assert dead.status_code == 400
    assert 'href="/account/resend-verification?lang=en"' in dead.text
    assert wrong.status_code == 401
    assert sent.status_code == 200
    assert "A new verification link is on its way" in sent.text
    assert old.status_code == 400  # the earlier link stopped working before the address was verified
    assert new.status_code == 200
    assert f"{email} is verified already" in again.text


async def test_forgetting_a_password_answers_alike_and_the_mailed_link_sets_a_new_one(
    browser: httpx.AsyncClient, mailbox: Events, users: user_pb2_grpc.UserServiceAsyncStub, base_url: str
) -> None:
    email = unique_email()
    await users.SignUp(user_pb2.SignUpRequest(email=email, password=PASSWORD, name="Rina", language="en"))

    stranger = unique_email()
    nobody = await fill_in(browser, "/account/forgot-password?lang=en", email=stranger)
    somebody = await fill_in(browser, "/account/forgot-password?lang=en", email=email)
    [mailed] = await mailbox.wait_for(Reset, email=email)
    reset_page = path_of(mailed.reset_url)
    differ = await fill_in(browser, reset_page, password="Sate-Ayam-Madura-9", confirm="Sate-Ayam-Madura-8")
    weak = await fill_in(browser, reset_page, password="password", confirm="password")
    changed = await fill_in(browser, reset_page, password="Sate-Ayam-Madura-9", confirm="Sate-Ayam-Madura-9")
    reused = await fill_in(browser, reset_page, password="Sate-Ayam-Madura-0", confirm="Sate-Ayam-Madura-0")
    login = await fill_in(browser, "/oauth2/login", email=email, password="Sate-Ayam-Madura-9")

    assert nobody.status_code == somebody.status_code == 200
    assert nobody.text.replace(stranger, "someone") == somebody.text.replace(email, "someone")
    assert mailed.reset_url.startswith(f"{base_url}/account/reset-password?token=")
    assert (mailed.language, mailed.name) == ("en", "Rina")
    assert differ.status_code == 400
    assert field_error(differ.text, "confirm") == "The two passwords differ."
    assert weak.status_code == 400
    assert field_error(weak.text, "password").startswith("Choose a stronger password")
    assert changed.status_code == 200
    assert "Your password is changed" in changed.text
    assert reused.status_code == 400
    assert 'href="/account/forgot-password?lang=en"' in reused.text
    assert login.status_code == 200
    assert "Anda sudah masuk" in login.text


async def test_the_login_page_leads_to_sign_up_and_back_to_the_authorization_request(
    browser: httpx.AsyncClient, storefront: str, mailbox: Events
) -> None:
    authorize = "/oauth2/authorize?" + "&".join(
        [
            "response_type=code",
            "client_id=storefront",
            f"redirect_uri={storefront}",
            "scope=openid",
            "code_challenge=" + "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method=S256",
        ]
    )
    login = await browser.get(authorize)
    signup_link = unescape(re.search(r'href="(/account/signup[^"]*)"', login.text).group(1))  # type: ignore[union-attr]
    forgot_link = unescape(re.search(r'href="(/account/forgot-password[^"]*)"', login.text).group(1))  # type: ignore[union-attr]
    email = unique_email()

    done = await fill_in(browser, signup_link, email=email, name="Rina", password=PASSWORD)
    back = unescape(re.search(r'<a class="button" href="([^"]+)"', done.text).group(1))  # type: ignore[union-attr]

    return_to = parse_qs(urlsplit(signup_link).query)["return_to"][0]
    assert return_to.startswith("/oauth2/authorize?")
    assert "client_id=storefront" in return_to
    assert parse_qs(urlsplit(forgot_link).query)["return_to"] == [return_to]
    assert back == return_to
    assert (await browser.get(back)).status_code == 200  # the login page of the same request


async def test_a_page_speaks_the_language_asked_for_else_the_browsers_else_indonesian(
    browser: httpx.AsyncClient,
) -> None:
    asked = await browser.get("/account/forgot-password?lang=en", headers={"accept-language": "id"})
    preferred = await browser.get("/account/forgot-password", headers={"accept-language": "fr, en;q=0.8"})
    neither = await browser.get("/account/forgot-password", headers={"accept-language": "fr, de"})

    assert "Forgot your password" in asked.text
    assert 'href="/account/forgot-password?lang=id"' in asked.text
    assert "Forgot your password" in preferred.text
    assert "Lupa kata sandi" in neither.text
