"""The provider's rules: clients, scopes, redirect URIs, PKCE, grants and signing-key lifetimes.

Pure Python: no I/O. The use cases in ``handlers`` load and store what these
rules decide about. A registration that breaks rules raises ``ValidationFailed``
(``toko.platform.rules``) naming every one of them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit

from toko.platform.rules import Violation, raise_if
from toko.platform.text import checked_text
from toko.services.auth.error_codes import ErrorCode

# --- scopes and roles ---------------------------------------------------------------------------------------

OIDC_SCOPES = ("openid", "profile", "email", "phone", "address", "offline_access")
API_SCOPES = ("account", "shop.manage", "catalog.write", "admin")
KNOWN_SCOPES = frozenset(OIDC_SCOPES + API_SCOPES)
KNOWN_ROLES = frozenset({"buyer", "seller", "admin", "service"})
ACCESS_TOKEN_AUDIENCE = "toko-api"  # noqa: S105 - an audience, not a secret
SIGNING_ALGORITHM = "ES256"
# What each OIDC scope releases in the ID token and at userinfo.
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "profile": ("name",),
    "email": ("email", "email_verified"),
    "phone": ("phone_number",),
}
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "openid": "Mengetahui siapa Anda (your account id)",
    "profile": "Nama Anda (your name)",
    "email": "Alamat email Anda (your email address)",
    "phone": "Nomor telepon Anda (your phone number)",
    "address": "Alamat Anda (your addresses)",
    "offline_access": "Tetap terhubung saat Anda tidak aktif (stay signed in)",
    "account": "Mengelola akun Anda (manage your account)",
    "shop.manage": "Mengelola toko Anda (manage your shop)",
    "catalog.write": "Mengubah produk toko Anda (change your shop's products)",
    "admin": "Tindakan administrator (administrator actions)",
}


def parse_scope(text: str) -> tuple[str, ...]:
    """A space-separated scope string as a sorted tuple without duplicates."""
    return tuple(sorted(set(text.split())))


def scope_string(scopes: Iterable[str]) -> str:
    """Scopes as the space-separated string OAuth carries."""
    return " ".join(sorted(set(scopes)))


class ClientType(StrEnum):
    """Whether a client can keep a secret."""

    PUBLIC = "public"
    CONFIDENTIAL = "confidential"


class GrantType(StrEnum):
    """The grants this provider implements (no implicit, no password: RFC 9700)."""

    AUTHORIZATION_CODE = "authorization_code"
    REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a grant name
    CLIENT_CREDENTIALS = "client_credentials"


# --- clients ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientSpec:
    """What a registration asks for; ``client_type`` is None when it names no type this provider knows."""

    name: str
    client_type: ClientType | None
    redirect_uris: tuple[str, ...] = ()
    post_logout_redirect_uris: tuple[str, ...] = ()
    allowed_scopes: tuple[str, ...] = ()
    grant_types: tuple[str, ...] = ()
    first_party: bool = False
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Client:
    """A registered OAuth client."""

    client_id: str
    name: str
    client_type: ClientType
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    allowed_scopes: tuple[str, ...]
    grant_types: tuple[str, ...]
    first_party: bool
    roles: tuple[str, ...]
    created_at: datetime

    @property
    def is_public(self) -> bool:
        """True when the client has no secret."""
        return self.client_type is ClientType.PUBLIC

    def allows_grant(self, grant: GrantType) -> bool:
        """True when the client was registered for ``grant``."""
        return grant.value in self.grant_types

    def check_secret(self, secret: str) -> bool:
        """True when ``secret`` is this confidential client's secret (constant time)."""
        if self.secret_hash is None:
            return False
        return hmac.compare_digest(hash_secret(secret), self.secret_hash)


MAX_NAME_LENGTH = 100
MAX_URIS = 10
MAX_URI_LENGTH = 500
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})


def _uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered as a redirect URI, or None."""
    if len(uri) > MAX_URI_LENGTH:
        return f"must be at most {MAX_URI_LENGTH} characters"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "is not a URL"
    if parts.fragment or "#" in uri:
        return "must not have a fragment"
    if not parts.hostname:
        return "must be an absolute URL"
    if parts.username or parts.password:
        return "must not carry credentials"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS:
        return None
    return "must be https (http only for 127.0.0.1 or localhost)"


def validate_client(spec: ClientSpec) -> ClientSpec:
    """The registration, normalised; raise ``ValidationFailed`` naming every broken rule."""
    # The name is shown on the login and consent pages: the platform's rule for text a person reads.
    name, problems = checked_text(spec.name, "client.name", ErrorCode.INVALID_NAME, maximum=MAX_NAME_LENGTH)
    if spec.client_type is None:
        problems.append(
            Violation("client.client_type", "must be public or confidential", ErrorCode.INVALID_CLIENT_TYPE)
        )
    for label, uris in (
        ("client.redirect_uris", spec.redirect_uris),
        ("client.post_logout_redirect_uris", spec.post_logout_redirect_uris),
    ):
        if len(uris) > MAX_URIS:
            problems.append(Violation(label, f"at most {MAX_URIS}", ErrorCode.TOO_MANY_REDIRECT_URIS))
        for index, uri in enumerate(uris):
            problem = _uri_problem(uri)
            if problem:
                problems.append(Violation(f"{label}[{index}]", problem, ErrorCode.INVALID_REDIRECT_URI))
    unknown_scopes = sorted(set(spec.allowed_scopes) - KNOWN_SCOPES)
    if unknown_scopes:
        problems.append(
            Violation(
                "client.allowed_scopes",
                f"unknown scopes: {', '.join(unknown_scopes)}",
                ErrorCode.UNKNOWN_SCOPE,
            )
        )
    grants = set(spec.grant_types)
    known_grants = {g.value for g in GrantType}
    if not grants or grants - known_grants:
        problems.append(
            Violation(
                "client.grant_types",
                f"must be among {', '.join(sorted(known_grants))}",
                ErrorCode.UNSUPPORTED_GRANT_TYPE,
            )
        )
    if GrantType.AUTHORIZATION_CODE.value in grants and not spec.redirect_uris:
        problems.append(
            Violation(
                "client.redirect_uris",
                "the authorization_code grant needs one",
                ErrorCode.REDIRECT_URI_REQUIRED,
            )
        )
    if GrantType.REFRESH_TOKEN.value in grants and GrantType.AUTHORIZATION_CODE.value not in grants:
        problems.append(
            Violation(
                "client.grant_types",
                "refresh_token comes with authorization_code",
                ErrorCode.UNSUPPORTED_GRANT_TYPE,
            )
        )
    if spec.client_type is ClientType.PUBLIC and GrantType.CLIENT_CREDENTIALS.value in grants:
        problems.append(
            Violation(
                "client.grant_types",
                "a public client cannot use client_credentials",
                ErrorCode.PUBLIC_CLIENT_GRANT,
            )
        )
    bad_roles = sorted(set(spec.roles) - (KNOWN_ROLES - {"service"}))
    if bad_roles:
        problems.append(
            Violation("client.roles", f"unknown roles: {', '.join(bad_roles)}", ErrorCode.UNKNOWN_ROLE)
        )
    if spec.roles and GrantType.CLIENT_CREDENTIALS.value not in grants:
        problems.append(
            Violation(
                "client.roles", "only client_credentials clients carry roles", ErrorCode.ROLES_NOT_ALLOWED
            )
        )
    raise_if(problems)
    return ClientSpec(
        name=name,
        client_type=spec.client_type,
        redirect_uris=tuple(dict.fromkeys(spec.redirect_uris)),
        post_logout_redirect_uris=tuple(dict.fromkeys(spec.post_logout_redirect_uris)),
        allowed_scopes=parse_scope(" ".join(spec.allowed_scopes)),
        grant_types=tuple(sorted(grants)),
        first_party=spec.first_party,
        roles=tuple(sorted(set(spec.roles))),
    )


def new_secret() -> str:
    """A client secret or token: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    """How secrets and tokens are stored: SHA-256 (high-entropy random values need no slow hash)."""
    return hashlib.sha256(secret.encode()).hexdigest()


# --- the authorization request ------------------------------------------------------------------------------

_PKCE_VALUE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def redirect_uri_registered(client: Client, redirect_uri: str) -> bool:
    """Exact string match against the registered list (no prefix, no normalisation)."""
    return redirect_uri in client.redirect_uris


def granted_scopes(requested: Iterable[str], allowed: Iterable[str]) -> tuple[str, ...] | None:
    """The requested scopes if every one is allowed, else None."""
    wanted = set(requested)
    if not wanted <= set(allowed):
        return None
    return tuple(sorted(wanted))


def valid_code_challenge(challenge: str) -> bool:
    """True for a well-formed S256 challenge (43 base64url characters)."""
    return bool(_PKCE_VALUE.match(challenge)) and len(challenge) == 43


def valid_code_verifier(verifier: str) -> bool:
    """True for an RFC 7636 code verifier (43-128 unreserved characters)."""
    return bool(_PKCE_VALUE.match(verifier))


def consent_covers(remembered: Iterable[str], requested: Iterable[str]) -> bool:
    """True when a remembered consent already covers every requested scope."""
    return set(requested) <= set(remembered)


# --- codes, refresh tokens and signing keys -----------------------------------------------------------------


@dataclass(frozen=True)
class AuthorizationCode:
    """An issued code, as stored (the code itself is only hashed)."""

    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    nonce: str
    code_challenge: str
    auth_time: datetime
    expires_at: datetime
    family_id: str
    used_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """True once the code's lifetime is over."""
        return now >= self.expires_at


@dataclass(frozen=True)
class RefreshToken:
    """A refresh token as stored; rotated on every use, in a family that dies together."""

    token_hash: str
    family_id: str
    client_id: str
    user_id: str
    scope: tuple[str, ...]
    auth_time: datetime
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """True when it was never used, never revoked and has not expired."""
        return self.used_at is None and self.revoked_at is None and now < self.expires_at


@dataclass(frozen=True)
class SigningKey:
    """A token signing key: published from creation, signs from ``signs_from`` until ``retired_at``.

    It stays published until ``expires_at``, when every token it signed has expired.
    """

    kid: str
    created_at: datetime
    signs_from: datetime
    retired_at: datetime | None = None
    expires_at: datetime | None = None

    def published(self, now: datetime) -> bool:
        """True from creation while a token it signed may still be valid."""
        return self.expires_at is None or now < self.expires_at

    def signs(self, now: datetime) -> bool:
        """True while it is the key that signs."""
        return self.signs_from <= now and (self.retired_at is None or now < self.retired_at)


@dataclass(frozen=True)
class KeyPolicy:
    """When signing keys rotate, how early a new key is published, how long an old one stays."""

    rotate_after: timedelta
    longest_token: timedelta
    leeway: timedelta
    # Verifiers cache the JWKS; a new key is published this long before it signs, so that every
    # verifier knows it by the time the first token it signed arrives.
    publish_ahead: timedelta = timedelta(seconds=90)

    def needs_rotation(self, newest: SigningKey | None, now: datetime) -> bool:
        """True when there is no key or the newest is older than the rotation period."""
        return newest is None or now - newest.created_at >= self.rotate_after

    def schedule(self, now: datetime, *, first: bool) -> tuple[datetime, datetime]:
        """When a key created now starts signing, and until when the keys it replaces stay published."""
        signs_from = now if first else now + self.publish_ahead
        return signs_from, signs_from + self.longest_token + self.leeway


@dataclass(frozen=True)
class UserClaims:
    """What the user service knows about an account, for tokens and userinfo."""

    user_id: str
    email: str = ""
    email_verified: bool = False
    name: str = ""
    phone: str = ""
    roles: tuple[str, ...] = ()
    shop_id: str = ""

    def released(self, scopes: Iterable[str]) -> dict[str, object]:
        """The OIDC claims the granted scopes release (``sub`` always)."""
        available: dict[str, object] = {
            "name": self.name,
            "email": self.email,
            "email_verified": self.email_verified,
            "phone_number": self.phone,
        }
        claims: dict[str, object] = {"sub": self.user_id}
        for scope in scopes:
            for claim in SCOPE_CLAIMS.get(scope, ()):
                value = available[claim]
                if value != "":
                    claims[claim] = value
        return claims


@dataclass(frozen=True)
class IssuedTokens:
    """What the token endpoint answers with."""

    access_token: str
    expires_in: int
    scope: tuple[str, ...]
    refresh_token: str = ""
    id_token: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def as_response(self) -> dict[str, object]:
        """The JSON body of a successful token response (RFC 6749 §5.1)."""
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": scope_string(self.scope),
        }
        if self.refresh_token:
            body["refresh_token"] = self.refresh_token
        if self.id_token:
            body["id_token"] = self.id_token
        return body
