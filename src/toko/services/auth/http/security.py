"""Browser-facing state of the login pages: signed cookies, login sessions, CSRF tokens, throttling,
and the browsers an account has signed in from.

Valkey keys (all under ``toko:auth:``):

- ``session:<sid>``: a login session, JSON ``{"user_id", "auth_time"}``, for ``login_session_hours``;
  the browser holds only the signed session id (cookie ``toko_auth_session``).
- ``user-sessions:<user_id>``: the set of a user's session ids, so a password change ends them all.
- ``pending:<id>``: a sign-in that passed the password and waits for its TOTP code (5 minutes), JSON
  ``{"user_id", "email", "language"}``.
- ``login-fail:account:<sha256(email)[:32]>`` / ``login-fail:ip:<ip>`` / ``login-fail:user:<user_id>``:
  failed attempts in the current window (``INCR``, expiring with the window).

CSRF: the double-submit pattern with a signed token. The browser holds a random
value in the ``toko_auth_csrf`` cookie (HttpOnly, SameSite=Lax); every form
carries HMAC(key, value), which a cross-site page can neither read nor forge.

Known browsers: the ``toko_auth_device`` cookie (signed, HttpOnly, 400 days) lists a mark of
each account that signed in from the browser, HMAC(key, user id) cut short, so it names
nobody; an account signing in from a browser without its mark is a sign-in from a new
browser (``KnownBrowsers``). Nothing is stored on our side.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from redis.asyncio import Redis

from toko.platform.clock import utcnow

PREFIX = "toko:auth:"
SESSION_COOKIE = "toko_auth_session"
CSRF_COOKIE = "toko_auth_csrf"
DEVICE_COOKIE = "toko_auth_device"
PENDING_SECONDS = 300
# The longest a browser keeps a cookie (Chrome caps Max-Age at 400 days).
DEVICE_COOKIE_SECONDS = 400 * 24 * 3600
# Accounts remembered per browser, newest kept: a shared computer does not grow the cookie without end.
ACCOUNTS_PER_BROWSER = 20
_MARK_LENGTH = 16


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Signer:
    """HMAC-SHA256 signatures of short values (cookie contents, form tokens)."""

    key: bytes

    def mac(self, purpose: str, value: str) -> str:
        """The signature of ``value`` for ``purpose``."""
        return _b64(hmac.new(self.key, f"{purpose}|{value}".encode(), hashlib.sha256).digest())

    def sign(self, purpose: str, value: str) -> str:
        """``value`` with its signature attached."""
        return f"{value}.{self.mac(purpose, value)}"

    def unsign(self, purpose: str, signed: str) -> str | None:
        """The value when the signature is right, else None."""
        value, _, signature = signed.rpartition(".")
        if not value or not hmac.compare_digest(signature, self.mac(purpose, value)):
            return None
        return value

    def csrf_token(self, cookie_value: str) -> str:
        """The form token matching a CSRF cookie."""
        return self.mac("csrf", cookie_value)

    def check_csrf(self, cookie_value: str | None, form_token: str | None) -> bool:
        """True when the form token belongs to the browser's CSRF cookie."""
        if not cookie_value or not form_token:
            return False
        return hmac.compare_digest(self.csrf_token(cookie_value), form_token)


@dataclass(frozen=True)
class LoginSession:
    """A signed-in browser."""

    sid: str
    user_id: str
    auth_time: datetime


@dataclass(frozen=True)
class KnownBrowsers:
    """Which accounts a browser has signed in to, as its device cookie says."""

    signer: Signer

    def _marks(self, cookie: str | None) -> list[str]:
        value = self.signer.unsign("device", cookie) if cookie else None
        return [mark for mark in value.split("~") if mark] if value else []

    def _mark(self, user_id: str) -> str:
        return self.signer.mac("device-account", user_id)[:_MARK_LENGTH]

    def knows(self, cookie: str | None, user_id: str) -> bool:
        """Whether ``user_id`` signed in from the browser holding ``cookie`` before."""
        return self._mark(user_id) in self._marks(cookie)

    def remember(self, cookie: str | None, user_id: str) -> str:
        """The device cookie's new value, with ``user_id`` as its newest account."""
        mark = self._mark(user_id)
        others = [m for m in self._marks(cookie) if m != mark]
        marks = [*others[-(ACCOUNTS_PER_BROWSER - 1) :], mark]
        return self.signer.sign("device", "~".join(marks))


@dataclass(frozen=True)
class SignIn:
    """An account whose password was right: who, and what a notice to its owner needs."""

    user_id: str
    email: str = ""
    language: str = ""


@dataclass(frozen=True)
class Sessions:
    """Login sessions in Valkey."""

    valkey: Redis
    lifetime_seconds: int

    async def create(self, user_id: str) -> LoginSession:
        """Start a session for ``user_id``."""
        sid = secrets.token_urlsafe(32)
        now = utcnow().replace(microsecond=0)
        record = orjson.dumps({"user_id": user_id, "auth_time": int(now.timestamp())})
        async with self.valkey.pipeline(transaction=True) as pipe:
            pipe.set(f"{PREFIX}session:{sid}", record, ex=self.lifetime_seconds)
            pipe.sadd(f"{PREFIX}user-sessions:{user_id}", sid)
            pipe.expire(f"{PREFIX}user-sessions:{user_id}", self.lifetime_seconds)
            await pipe.execute()
        return LoginSession(sid=sid, user_id=user_id, auth_time=now)

    async def get(self, sid: str) -> LoginSession | None:
        """The session, or None when it ended."""
        raw = await self.valkey.get(f"{PREFIX}session:{sid}")
        if raw is None:
            return None
        record = orjson.loads(raw)
        return LoginSession(
            sid=sid, user_id=record["user_id"], auth_time=datetime.fromtimestamp(record["auth_time"], UTC)
        )

    async def end(self, session: LoginSession) -> None:
        """Sign the browser out."""
        await self.valkey.delete(f"{PREFIX}session:{session.sid}")
        await self.valkey.srem(f"{PREFIX}user-sessions:{session.user_id}", session.sid)

    async def end_all(self, user_id: str) -> None:
        """Sign every browser of ``user_id`` out."""
        key = f"{PREFIX}user-sessions:{user_id}"
        sids = await self.valkey.smembers(key)
        keys = [f"{PREFIX}session:{sid.decode() if isinstance(sid, bytes) else str(sid)}" for sid in sids]
        await self.valkey.delete(key, *keys)

    async def hold_pending(self, sign_in: SignIn) -> str:
        """Remember a sign-in waiting for its second factor; return its id."""
        pending = secrets.token_urlsafe(24)
        record = orjson.dumps(
            {"user_id": sign_in.user_id, "email": sign_in.email, "language": sign_in.language}
        )
        await self.valkey.set(f"{PREFIX}pending:{pending}", record, ex=PENDING_SECONDS)
        return pending

    async def pending_sign_in(self, pending: str) -> SignIn | None:
        """A pending sign-in (which stays pending until ``finish_pending``)."""
        raw = await self.valkey.get(f"{PREFIX}pending:{pending}")
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if not text.startswith("{"):
            return SignIn(user_id=text)  # held before pending sign-ins kept more than the user id
        record = orjson.loads(text)
        return SignIn(
            user_id=str(record["user_id"]),
            email=str(record.get("email", "")),
            language=str(record.get("language", "")),
        )

    async def finish_pending(self, pending: str) -> bool:
        """Consume a pending sign-in; False when it was already used (single use)."""
        return bool(await self.valkey.delete(f"{PREFIX}pending:{pending}"))


@dataclass(frozen=True)
class LoginThrottle:
    """Counts failed sign-ins per account and per client IP in fixed windows."""

    valkey: Redis
    per_account: int
    per_ip: int
    window_seconds: int

    @staticmethod
    def account_key(email: str) -> str:
        """The counter of an email address (hashed: keys should not hold personal data)."""
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]
        return f"{PREFIX}login-fail:account:{digest}"

    @staticmethod
    def user_key(user_id: str) -> str:
        """The counter of wrong second-factor codes of an account."""
        return f"{PREFIX}login-fail:user:{user_id}"

    @staticmethod
    def ip_key(ip: str) -> str:
        """The counter of a client address."""
        return f"{PREFIX}login-fail:ip:{ip}"

    async def blocked(self, *, account_key: str, ip: str) -> bool:
        """True when the account or the address used up its failures in this window."""
        account, by_ip = await self.valkey.mget([account_key, self.ip_key(ip)])
        return int(account or 0) >= self.per_account or int(by_ip or 0) >= self.per_ip

    async def failed(self, *, account_key: str, ip: str) -> None:
        """Count a failure against the account and the address."""
        async with self.valkey.pipeline(transaction=False) as pipe:
            for key in (account_key, self.ip_key(ip)):
                pipe.incr(key)
                # NX: the window starts at the first failure and is not extended by later ones.
                pipe.expire(key, self.window_seconds, nx=True)
            await pipe.execute()

    async def succeeded(self, *, account_key: str) -> None:
        """Forget the account's failures after a successful sign-in."""
        await self.valkey.delete(account_key)


def monotonic_floor(started: float, seconds: float) -> float:
    """How long to wait so that a response takes at least ``seconds`` since ``started``."""
    return max(0.0, seconds - (time.monotonic() - started))
