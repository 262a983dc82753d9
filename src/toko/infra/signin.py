"""Signing in from a shell: the authorization code flow with PKCE, as a browser would run it.

``toko token --user EMAIL`` uses this to print an access token for the README's examples: it opens
``/oauth2/authorize`` as the first-party ``storefront`` client, fills in the login form (and the
TOTP step, when the account has one), follows the redirects to the client's redirect URI, and
exchanges the code at ``/oauth2/token``. Only the standard library speaks HTTP here, so the
command needs nothing beyond what ``make up`` installs.

The password comes from the caller, or for the demo accounts from ``demo-credentials.json`` in the
data directory. A refresh token is kept (mode 0600) under ``<data dir>/tokens/`` so that
``toko token --user EMAIL --refresh`` gets a fresh access token without the password.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from html import unescape
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

CLIENT_ID = "storefront"
SCOPE = "openid profile email offline_access account shop.manage catalog.write"
CALLBACK_PATH = "/oauth2/callback-demo"
CREDENTIALS_FILE = "demo-credentials.json"
_MAX_REDIRECTS = 10
_HIDDEN = re.compile(r'<input type="hidden" name="(?P<name>[a-z_]+)" value="(?P<value>[^"]*)">')
_ERROR = re.compile(r'<p class="error"[^>]*>(?P<text>.*?)</p>', re.S)


class SignInError(Exception):
    """Signing in failed; the message says why in words a person can act on."""


@dataclass(frozen=True)
class Tokens:
    """What the token endpoint answered."""

    access_token: str
    expires_at: float
    refresh_token: str

    @classmethod
    def of(cls, answer: dict[str, Any]) -> Tokens:
        """From the token endpoint's JSON."""
        return cls(
            access_token=str(answer["access_token"]),
            expires_at=time.time() + float(answer.get("expires_in", 0)),
            refresh_token=str(answer.get("refresh_token", "")),
        )


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Hands every redirect back to the caller, who follows it (or stops at the callback)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class _Browser:
    """Cookies and a base URL: enough of a browser for the login pages."""

    base_url: str

    def __post_init__(self) -> None:
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(CookieJar()), _NoRedirects()
        )

    def send(self, url: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """GET ``url`` (or POST ``form`` to it): status, Location header, body."""
        data = urlencode(form).encode() if form is not None else None
        request = urllib.request.Request(urljoin(self.base_url, url), data=data)  # noqa: S310 - our own URL
        try:
            with self._opener.open(request, timeout=30) as answer:
                return answer.status, answer.headers.get("Location", ""), answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode()
        except urllib.error.URLError as error:
            raise SignInError(f"cannot reach toko at {self.base_url} ({error.reason}); is it up?") from error


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _hidden_fields(page: str) -> dict[str, str]:
    return {match["name"]: unescape(match["value"]) for match in _HIDDEN.finditer(page)}


def _page_error(page: str, status: int) -> str:
    match = _ERROR.search(page)
    text = re.sub(r"<[^>]+>", "", match["text"]).strip() if match else ""
    return unescape(text) or f"HTTP {status}"


def sign_in(
    base_url: str,
    email: str,
    password: str,
    *,
    totp_code: Callable[[], str] | None = None,
    scope: str = SCOPE,
) -> Tokens:
    """Run the authorization code flow with PKCE for ``email``; the tokens it ends with."""
    base = base_url.rstrip("/")
    redirect_uri = f"{base}{CALLBACK_PATH}"
    verifier, challenge = _pkce_pair()
    state = secrets.token_urlsafe(16)
    browser = _Browser(base)
    query = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "state": state,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    status, location, page = browser.send(f"/oauth2/authorize?{urlencode(query)}")
    for _ in range(_MAX_REDIRECTS):
        if location.startswith(redirect_uri):
            return _exchange(browser, location, state=state, verifier=verifier, redirect_uri=redirect_uri)
        if location:
            status, location, page = browser.send(location)
            continue
        fields = _hidden_fields(page)
        if 'action="/oauth2/login/totp"' in page and status == 200:
            if totp_code is None:
                raise SignInError(f"{email} has two-factor sign-in: pass --totp CODE")
            status, location, page = browser.send("/oauth2/login/totp", fields | {"code": totp_code()})
        elif 'action="/oauth2/login"' in page and "csrf_token" in fields and status == 200:
            form = fields | {"email": email, "password": password}
            status, location, page = browser.send("/oauth2/login", form)
        else:
            raise SignInError(f"sign-in refused: {_page_error(page, status)}")
    raise SignInError("sign-in did not reach the client's redirect URI")


def _exchange(browser: _Browser, location: str, *, state: str, verifier: str, redirect_uri: str) -> Tokens:
    params = parse_qs(urlsplit(location).query)
    if params.get("state") != [state]:
        raise SignInError("the authorization answer carried another state; refusing it")
    if "code" not in params:
        raise SignInError(f"authorization refused: {params.get('error', ['unknown'])[0]}")
    form = {
        "grant_type": "authorization_code",
        "code": params["code"][0],
        "redirect_uri": redirect_uri,
        "client_id": CLIENT_ID,
        "code_verifier": verifier,
    }
    return _token_request(browser, form)


def refresh(base_url: str, refresh_token: str) -> Tokens:
    """A new access token (and refresh token: they rotate) for ``refresh_token``."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
    return _token_request(_Browser(base_url.rstrip("/")), form)


def _token_request(browser: _Browser, form: dict[str, str]) -> Tokens:
    status, _, body = browser.send("/oauth2/token", form)
    try:
        answer = json.loads(body)
    except ValueError as error:
        raise SignInError(f"the token endpoint answered HTTP {status} without JSON") from error
    if status != 200:
        raise SignInError(f"token refused: {answer.get('error')}: {answer.get('error_description', '')}")
    return Tokens.of(answer)


def demo_password(data_dir: Path, email: str) -> str | None:
    """The password of a demo account, from the credentials file ``make up`` writes; None otherwise."""
    try:
        document = json.loads((data_dir / CREDENTIALS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None
    for account in document.get("accounts", []):
        if str(account.get("email", "")).casefold() == email.casefold():
            return str(account.get("password", "")) or None
    return None


def _token_file(data_dir: Path, email: str) -> Path:
    digest = hashlib.sha256(email.casefold().encode()).hexdigest()[:16]
    return data_dir / "tokens" / f"{digest}.json"


def save_refresh_token(data_dir: Path, email: str, tokens: Tokens) -> None:
    """Keep the refresh token for ``--refresh`` (mode 0600; the folder 0700)."""
    if not tokens.refresh_token:
        return
    path = _token_file(data_dir, email)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"email": email, "refresh_token": tokens.refresh_token}, file)


def saved_refresh_token(data_dir: Path, email: str) -> str | None:
    """The refresh token kept for ``email``, if any."""
    try:
        return str(json.loads(_token_file(data_dir, email).read_text())["refresh_token"])
    except (FileNotFoundError, ValueError, KeyError):
        return None
