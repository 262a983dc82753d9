"""Who is calling, and whether they may call what they call.

Access rules are declared on each RPC with the ``toko.options.v1.access`` method
option. The gateway checks them at the edge and the service checks them again
(``toko.platform.grpc`` does it in an interceptor), so a call that bypasses the
gateway meets the same rule.

The credential is an OAuth 2 access token in the JWT profile of RFC 9068, issued
by the auth service and verified here (``JwtAuthenticator``) against its JWKS:
ES256 only, ``typ`` ``at+jwt``, our issuer, audience ``toko-api``, within its
lifetime. Verified tokens are cached until they expire, so a caller presenting
the same token again costs a dictionary lookup. Without a token the caller is
anonymous. See docs/adr/0006-token-verification.md.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ec import ECDSA
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.hashes import SHA256
from google.protobuf.descriptor import MethodDescriptor

from toko.auth.v1.events_pb2 import RevocationCause
from toko.options.v1 import access_pb2
from toko.platform.error_codes import CommonReason
from toko.platform.errors import PermissionDenied, Unauthenticated, Unavailable
from toko.platform.jwks import KeySource, RemoteJwks, StaticJwks

ANONYMOUS_SUBJECT = ""
ACCESS_TOKEN_AUDIENCE = "toko-api"  # noqa: S105 - an audience, not a secret
ACCESS_TOKEN_ALGORITHM = "ES256"  # noqa: S105 - an algorithm name
# RFC 9068 §2.1: "at+jwt"; the media-type form is equivalent (RFC 7515 §4.1.9).
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "sub", "client_id", "jti")
MAX_TOKEN_BYTES = 8 * 1024


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    subject: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    shop_id: str = ""
    client_id: str = ""
    # The token's ``jti``: what revocation lists name.
    token_id: str = ""

    @property
    def is_anonymous(self) -> bool:
        """True when no credential was presented."""
        return self.subject == ANONYMOUS_SUBJECT

    @property
    def is_admin(self) -> bool:
        """True for platform administrators."""
        return "admin" in self.roles

    def manages(self, shop_id: str) -> bool:
        """Whether the caller may change everything of ``shop_id``: its seller, or an admin.

        The shop comes from the token (``shop_id`` claim); the user service, which owns shops,
        checks ownership against its database instead.
        """
        return self.is_admin or ("seller" in self.roles and bool(self.shop_id) and self.shop_id == shop_id)


ANONYMOUS = Principal(subject=ANONYMOUS_SUBJECT)


class RevocationList(Protocol):
    """Ids (``jti``) of revoked access tokens and why each was revoked
    (``toko.platform.revocation.RevokedTokens``)."""

    def __contains__(self, token_id: object) -> bool:
        """Whether the token was revoked."""
        ...

    def cause_of(self, token_id: str) -> RevocationCause.ValueType:
        """Why the token was revoked (UNSPECIFIED when not known)."""
        ...


class _NothingRevoked:
    """The revocation list of a verifier that follows no revocations."""

    def __contains__(self, token_id: object) -> bool:
        return False

    def cause_of(self, token_id: str) -> RevocationCause.ValueType:
        return RevocationCause.REVOCATION_CAUSE_UNSPECIFIED


NOTHING_REVOKED: RevocationList = _NothingRevoked()


def revoked_token(cause: RevocationCause.ValueType) -> Unauthenticated:
    """The error of a revoked token, telling a client whose roles changed to refresh it."""
    if cause == RevocationCause.REVOCATION_CAUSE_ROLES_CHANGED:
        return Unauthenticated(
            CommonReason.TOKEN_ROLES_CHANGED,
            "the account's roles or shop changed since this token was issued; refresh it to continue",
        )
    return invalid_token("the token has been revoked")


class Authenticator(Protocol):
    """Turns an ``Authorization`` header value into a principal."""

    def authenticate(self, authorization: str | None) -> Principal:
        """Return the caller, anonymous without a header; raise ``Unauthenticated`` on a bad credential."""
        ...


@dataclass(frozen=True)
class AccessRule:
    """The access option of one RPC, read from its descriptor."""

    public: bool
    scopes: frozenset[str]
    roles: frozenset[str]

    @classmethod
    def of(cls, method: MethodDescriptor) -> AccessRule:
        """Read the rule declared on an RPC; without one, only admins may call it."""
        options = method.GetOptions()
        if not options.HasExtension(access_pb2.access):
            return cls(public=False, scopes=frozenset(), roles=frozenset({"admin"}))
        declared = options.Extensions[access_pb2.access]
        return cls(public=declared.public, scopes=frozenset(declared.scopes), roles=frozenset(declared.roles))

    def check(self, principal: Principal) -> None:
        """Raise unless ``principal`` may call the RPC."""
        if self.public:
            return
        if principal.is_anonymous:
            raise Unauthenticated(CommonReason.AUTHENTICATION_REQUIRED, "this operation needs a bearer token")
        if self.roles and not (self.roles & principal.roles):
            raise PermissionDenied(
                CommonReason.ROLE_REQUIRED,
                f"this operation needs one of the roles: {', '.join(sorted(self.roles))}",
            )
        missing = self.scopes - principal.scopes
        if missing:
            raise PermissionDenied(
                CommonReason.SCOPE_REQUIRED,
                f"the token lacks the scopes: {', '.join(sorted(missing))}",
                metadata={"scope": " ".join(sorted(self.scopes))},
            )


def invalid_token(why: str) -> Unauthenticated:
    """The error of a token that is not acceptable, saying why."""
    return Unauthenticated(CommonReason.INVALID_TOKEN, why)


class KeyRefreshNeeded(Unauthenticated):
    """The token names a key we do not have yet: fetch the key set, then authenticate again.

    A subclass of ``Unauthenticated`` so that a caller unable to wait refuses the token;
    ``authenticate`` below is the caller that waits.
    """

    def __init__(self, keys: KeySource) -> None:
        super().__init__(CommonReason.INVALID_TOKEN, "the token is signed by an unknown key")
        self.keys = keys

    async def refresh(self) -> None:
        """Fetch the key set (at most once per the source's interval)."""
        await self.keys.refresh()


async def authenticate(authenticator: Authenticator, authorization: str | None) -> Principal:
    """``authenticator.authenticate``, fetching the signing keys first when the token needs newer ones."""
    try:
        return authenticator.authenticate(authorization)
    except KeyRefreshNeeded as pending:
        await pending.refresh()
        return authenticator.authenticate(authorization)


class JwtAuthenticator:
    """Verifies RFC 9068 access tokens (ES256 only) and caches the verified ones until they expire."""

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str = ACCESS_TOKEN_AUDIENCE,
        leeway: float = 30.0,
        cache_size: int = 10_000,
        max_token_bytes: int = MAX_TOKEN_BYTES,
        clock: Callable[[], float] = time.time,
        revoked: RevocationList = NOTHING_REVOKED,
    ) -> None:
        self.keys = keys
        # Ids of revoked tokens (``toko.platform.revocation.RevokedTokens``), checked on every call.
        self.revoked = revoked
        self.issuer = issuer
        self.audience = audience
        self._leeway = min(leeway, 30.0)
        self._cache_size = cache_size
        self._max_token_bytes = max_token_bytes
        self._clock = clock
        # Authorization header value -> (principal, exp). Only verified tokens go in.
        self._cache: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    def authenticate(self, authorization: str | None) -> Principal:
        """Return the caller, anonymous without a header; raise ``Unauthenticated`` on a bad token."""
        if not authorization:
            return ANONYMOUS
        cached = self._cache.get(authorization)
        if cached is not None and cached[1] > self._clock():
            self._cache.move_to_end(authorization)
            principal = cached[0]
        else:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated(
                    CommonReason.INVALID_AUTHORIZATION, "expected 'Authorization: Bearer <token>'"
                )
            principal, expires = self.verify(token.strip())
            self._cache[authorization] = (principal, expires)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        if principal.token_id in self.revoked:
            raise revoked_token(self.revoked.cause_of(principal.token_id))
        return principal

    def verify(self, token: str) -> tuple[Principal, float]:
        """The principal a token carries and its expiry (epoch seconds); raise ``Unauthenticated`` if bad."""
        if len(token) > self._max_token_bytes:
            raise invalid_token(f"the token is longer than {self._max_token_bytes} bytes")
        if not token.isascii():
            raise invalid_token("the token is not a JWT (non-ASCII characters)")
        segments = token.split(".")
        if len(segments) != 3:
            raise invalid_token("the token is not a JWT (expected three dot-separated segments)")
        encoded_header, encoded_claims, encoded_signature = segments
        header = _json_object(encoded_header, "header")
        algorithm = header.get("alg")
        if algorithm != ACCESS_TOKEN_ALGORITHM:
            raise invalid_token(f"the token's algorithm {algorithm!r} is not accepted; only ES256 is")
        kind = header.get("typ")
        if not isinstance(kind, str) or kind.lower() not in _ACCESS_TOKEN_TYPES:
            raise invalid_token("the token is not an access token (typ must be at+jwt)")
        if "crit" in header:
            raise invalid_token("the token has critical header parameters this verifier does not know")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise invalid_token("the token names no signing key (kid)")
        if self.keys.needs_refresh(kid):
            raise KeyRefreshNeeded(self.keys)
        key = self.keys.get(kid)
        if key is None:
            if not self.keys.reachable:
                # The key may be one not fetched yet: a valid token must not be refused for an outage.
                raise Unavailable(
                    CommonReason.DEPENDENCY_UNAVAILABLE,
                    "the token's signing keys cannot be fetched now; retry",
                )
            raise invalid_token("the token is signed by an unknown key")
        signature = _b64decode(encoded_signature, "signature")
        if len(signature) != 64:
            raise invalid_token("the token's signature is malformed")
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            key.verify(der, f"{encoded_header}.{encoded_claims}".encode("ascii"), ECDSA(SHA256()))
        except InvalidSignature:
            raise invalid_token("the token's signature does not verify") from None
        claims = _json_object(encoded_claims, "claims")
        return self._principal(claims)

    def _principal(self, claims: dict[str, Any]) -> tuple[Principal, float]:
        missing = [name for name in _REQUIRED_CLAIMS if name not in claims]
        if missing:
            raise invalid_token(f"the token lacks the claims: {', '.join(missing)}")
        if claims["iss"] != self.issuer:
            raise invalid_token("the token was issued by another issuer")
        audience = claims["aud"]
        audiences = [audience] if isinstance(audience, str) else audience
        if not isinstance(audiences, list) or self.audience not in audiences:
            raise invalid_token(f"the token's audience is not {self.audience}")
        now = self._clock()
        expires = _number(claims, "exp")
        if now > expires + self._leeway:
            raise invalid_token("the token has expired")
        if "nbf" in claims and now + self._leeway < _number(claims, "nbf"):
            raise invalid_token("the token is not valid yet (nbf)")
        if now + self._leeway < _number(claims, "iat"):
            raise invalid_token("the token was issued in the future (iat)")
        subject, client_id, token_id = claims["sub"], claims["client_id"], claims["jti"]
        scope = claims.get("scope", "")
        roles = claims.get("roles", [])
        shop_id = claims.get("shop_id", "") or ""
        if not (
            isinstance(subject, str) and subject and isinstance(client_id, str) and isinstance(token_id, str)
        ):
            raise invalid_token("the token's sub, client_id or jti is not a string")
        if not isinstance(scope, str) or not isinstance(shop_id, str):
            raise invalid_token("the token's scope or shop_id is not a string")
        if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
            raise invalid_token("the token's roles are not a list of strings")
        principal = Principal(
            subject=subject,
            roles=frozenset(roles),
            scopes=frozenset(scope.split()),
            shop_id=shop_id,
            client_id=client_id,
            token_id=token_id,
        )
        return principal, expires


def jwt_authenticator(
    *, issuer: str, jwks_url: str, jwks: str = "", revoked: RevocationList = NOTHING_REVOKED
) -> JwtAuthenticator:
    """The verifier of a process: keys fetched from ``jwks_url``, or the fixed ``jwks`` document if given;
    ``revoked`` holds the ids of tokens to refuse (``toko.platform.revocation.RevokedTokens``)."""
    keys: KeySource = StaticJwks(jwks) if jwks else RemoteJwks(jwks_url)
    return JwtAuthenticator(keys, issuer=issuer, revoked=revoked)


def _b64decode(segment: str, what: str) -> bytes:
    try:
        return base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise invalid_token(f"the token's {what} is not base64url") from None


def _json_object(segment: str, what: str) -> dict[str, Any]:
    try:
        value = orjson.loads(_b64decode(segment, what))
    except orjson.JSONDecodeError:
        raise invalid_token(f"the token's {what} is not JSON") from None
    if not isinstance(value, dict):
        raise invalid_token(f"the token's {what} is not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_token(f"the token's {name} is not a number")
    return float(value)
