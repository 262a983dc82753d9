"""Access rules declared on RPCs, and the verification of access tokens against every forgery we know of."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from toko.platform.auth import ANONYMOUS, AccessRule, JwtAuthenticator, Principal
from toko.platform.errors import PermissionDenied, Unauthenticated
from toko.platform.jwks import StaticJwks
from toko.platform.testing_auth import TEST_ISSUER, TokenIssuer, bearer
from toko.product.v1 import product_pb2

METHODS = product_pb2.DESCRIPTOR.services_by_name["ProductService"].methods_by_name
SELLER = Principal(subject="u1", roles=frozenset({"buyer", "seller"}), scopes=frozenset({"catalog.write"}))


def test_public_rpcs_admit_anonymous_callers() -> None:
    AccessRule.of(METHODS["GetProduct"]).check(ANONYMOUS)


def test_protected_rpc_asks_an_anonymous_caller_to_authenticate() -> None:
    with pytest.raises(Unauthenticated) as caught:
        AccessRule.of(METHODS["CreateProduct"]).check(ANONYMOUS)
    assert caught.value.reason == "AUTHENTICATION_REQUIRED"


def test_role_and_scope_are_both_required() -> None:
    rule = AccessRule.of(METHODS["CreateProduct"])
    rule.check(SELLER)
    with pytest.raises(PermissionDenied) as caught:
        rule.check(Principal(subject="u2", roles=frozenset({"buyer"}), scopes=frozenset({"catalog.write"})))
    assert caught.value.reason == "ROLE_REQUIRED"
    with pytest.raises(PermissionDenied) as caught:
        rule.check(Principal(subject="u3", roles=frozenset({"seller"})))
    assert caught.value.reason == "SCOPE_REQUIRED"


def test_admin_only_rpc_refuses_a_seller() -> None:
    with pytest.raises(PermissionDenied):
        AccessRule.of(METHODS["CreateCategory"]).check(SELLER)


# --- token verification ---------------------------------------------------------------------------


class Clock:
    """A settable clock, so expiry is tested without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def verifier(token_issuer: TokenIssuer, clock: Clock) -> JwtAuthenticator:
    return token_issuer.authenticator(clock=clock)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Any) -> str:
    return b64(json.dumps(value).encode())


def signed(issuer: TokenIssuer, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """A correctly signed ES256 token with any header at all (joserfc would refuse to make some)."""
    signing_input = f"{segment(header)}.{segment(claims)}"
    der = issuer.key.get_op_key("sign").sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{signing_input}.{b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def refused(verifier: JwtAuthenticator, token: str) -> Unauthenticated:
    with pytest.raises(Unauthenticated) as caught:
        verifier.authenticate(bearer(token))
    return caught.value


def test_a_valid_token_names_the_caller(verifier: JwtAuthenticator, token_issuer: TokenIssuer) -> None:
    token = token_issuer.mint(
        sub="u-7",
        roles=["buyer", "seller"],
        scopes=["openid", "catalog.write"],
        shop_id="s-1",
        client_id="app",
    )
    principal = verifier.authenticate(bearer(token))
    assert principal.subject == "u-7"
    assert principal.roles == {"buyer", "seller"}
    assert principal.scopes == {"openid", "catalog.write"}
    assert (principal.shop_id, principal.client_id) == ("s-1", "app")
    assert principal.token_id
    assert verifier.authenticate(None) is ANONYMOUS


def test_alg_none_is_refused(verifier: JwtAuthenticator, token_issuer: TokenIssuer) -> None:
    claims = token_issuer.claims(sub="u", roles=["admin"])
    for alg in ("none", "None", "NONE"):
        token = f"{segment({'alg': alg, 'typ': 'at+jwt', 'kid': token_issuer.kid})}.{segment(claims)}."
        assert "algorithm" in refused(verifier, token).message


def test_hs256_signed_with_the_public_key_is_refused(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    # The key-confusion attack: the published public key used as an HMAC secret.
    public = token_issuer.key.as_dict(private=False)
    pem = token_issuer.key.get_op_key("verify").public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = segment({"alg": "HS256", "typ": "at+jwt", "kid": token_issuer.kid})
    body = segment(token_issuer.claims(sub="u", roles=["admin"]))
    for secret in (pem, json.dumps(public).encode()):
        mac = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
        error = refused(verifier, f"{header}.{body}.{b64(mac)}")
        assert error.reason == "INVALID_TOKEN"
        assert "algorithm 'HS256'" in error.message


def test_rs256_is_refused_even_when_its_signature_is_valid(verifier: JwtAuthenticator) -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = segment({"alg": "RS256", "typ": "at+jwt", "kid": "rsa-1"})
    body = segment({"iss": TEST_ISSUER, "aud": "toko-api", "sub": "u", "exp": time.time() + 60})
    signature = rsa_key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    assert "algorithm 'RS256'" in refused(verifier, f"{header}.{body}.{b64(signature)}").message


@pytest.mark.parametrize("alg", ["ES384", "ES512", "EdDSA", "PS256", "HS512", "es256", ""])
def test_every_other_algorithm_is_refused(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer, alg: str
) -> None:
    token = token_issuer.mint(sub="u")
    _, body, signature = token.split(".")
    header = segment({"alg": alg, "typ": "at+jwt", "kid": token_issuer.kid})
    assert refused(verifier, f"{header}.{body}.{signature}").reason == "INVALID_TOKEN"


def test_a_foreign_key_with_a_known_kid_fails_the_signature(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    forger = TokenIssuer(kid=token_issuer.kid)
    assert "signature" in refused(verifier, forger.mint(sub="u", roles=["admin"])).message


def test_a_foreign_key_with_an_unknown_kid_is_refused(verifier: JwtAuthenticator) -> None:
    forger = TokenIssuer(kid="attacker-key")
    assert "unknown key" in refused(verifier, forger.mint(sub="u", roles=["admin"])).message


def test_a_tampered_payload_fails_the_signature(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    header, _, signature = token_issuer.mint(sub="u", roles=["buyer"]).split(".")
    forged = segment(token_issuer.claims(sub="u", roles=["admin"]))
    assert "signature" in refused(verifier, f"{header}.{forged}.{signature}").message


TIME_CLAIMS = frozenset({"exp", "nbf", "iat"})


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"aud": "another-api"}, "audience"),
        ({"aud": ["another-api", "more"]}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"exp": -31}, "expired"),
        ({"nbf": +120}, "not valid yet"),
        ({"iat": +120}, "issued in the future"),
        ({"exp": "tomorrow"}, "exp is not a number"),
        ({"roles": "admin"}, "roles"),
        ({"scope": ["admin"]}, "scope"),
        ({"sub": ""}, "sub"),
    ],
)
def test_bad_claims_are_refused_saying_why(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer, overrides: dict[str, Any], why: str
) -> None:
    # Times are given relative to now, resolved here: parameters are built at collection time,
    # minutes before this test may run.
    now = int(time.time())
    resolved = {k: now + v if k in TIME_CLAIMS and isinstance(v, int) else v for k, v in overrides.items()}
    claims = token_issuer.claims(sub="u") | resolved
    error = refused(verifier, token_issuer.sign(claims))
    assert error.reason == "INVALID_TOKEN"
    assert why in error.message


def test_an_audience_list_containing_ours_is_accepted(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.sign(token_issuer.claims(sub="u", aud=["other", "toko-api"]))
    assert verifier.authenticate(bearer(token)).subject == "u"


def test_clock_skew_within_30_seconds_is_tolerated(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer, clock: Clock
) -> None:
    token = token_issuer.mint(sub="u", exp_in=60)
    clock.now += 85
    assert verifier.authenticate(bearer(token)).subject == "u"


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "iat", "sub", "client_id", "jti"])
def test_a_missing_required_claim_is_refused(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer, claim: str
) -> None:
    claims = token_issuer.claims(sub="u")
    del claims[claim]
    error = refused(verifier, token_issuer.sign(claims))
    assert f"lacks the claims: {claim}" in error.message


def test_a_token_that_is_not_an_access_token_is_refused(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    claims = token_issuer.claims(sub="u")
    for typ in ("JWT", "id_token", None):
        header = {"typ": typ} if typ else {"typ": ""}
        assert "typ" in refused(verifier, token_issuer.sign(claims, **header)).message


def test_critical_headers_are_refused(verifier: JwtAuthenticator, token_issuer: TokenIssuer) -> None:
    header = {"alg": "ES256", "typ": "at+jwt", "kid": token_issuer.kid, "crit": ["x-bind"], "x-bind": 1}
    token = signed(token_issuer, header, token_issuer.claims(sub="u"))
    assert "critical" in refused(verifier, token).message


@pytest.mark.parametrize(
    "token",
    [
        "abc",
        "a.b",
        "a.b.c.d",
        "!!!.???.***",
        f"{segment([1, 2])}.{segment({})}.",
        f"{b64(b'not json')}.{segment({})}.",
        f"{segment({'alg': 'ES256', 'typ': 'at+jwt'})}.{segment({})}.{b64(b'x' * 64)}",
        f"{segment({'alg': 'ES256', 'typ': 'at+jwt', 'kid': 7})}.{segment({})}.{b64(b'x' * 64)}",
        "é.è.à",
    ],
)
def test_malformed_tokens_are_refused(verifier: JwtAuthenticator, token: str) -> None:
    assert refused(verifier, token).reason == "INVALID_TOKEN"


def test_a_malformed_signature_is_refused(verifier: JwtAuthenticator, token_issuer: TokenIssuer) -> None:
    header, body, _ = token_issuer.mint(sub="u").split(".")
    for signature in ("", b64(b"short"), b64(b"x" * 65), "not*base64"):
        assert refused(verifier, f"{header}.{body}.{signature}").reason == "INVALID_TOKEN"


def test_an_oversized_token_is_refused_before_any_work(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.sign(token_issuer.claims(sub="u", padding="x" * 9000))
    assert "longer than 8192 bytes" in refused(verifier, token).message


def test_the_authorization_scheme_must_be_bearer(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.mint(sub="u")
    for header in (f"Basic {token}", token, "Bearer ", "Bearer"):
        with pytest.raises(Unauthenticated) as caught:
            verifier.authenticate(header)
        assert caught.value.reason == "INVALID_AUTHORIZATION"


def test_the_cache_does_not_outlive_the_token(
    verifier: JwtAuthenticator, token_issuer: TokenIssuer, clock: Clock
) -> None:
    strict = token_issuer.authenticator(clock=clock, leeway=0)
    header = bearer(token_issuer.mint(sub="u", exp_in=60))
    assert strict.authenticate(header).subject == "u"
    assert strict.authenticate(header).subject == "u"  # from the cache
    clock.now += 61
    assert "expired" in refused(strict, header.removeprefix("Bearer ")).message


def test_the_cache_is_bounded(token_issuer: TokenIssuer) -> None:
    small = token_issuer.authenticator(cache_size=3)
    headers = [bearer(token_issuer.mint(sub=f"u{n}")) for n in range(5)]
    for header in headers:
        small.authenticate(header)
    assert len(small._cache) == 3
    assert list(small._cache) == headers[2:]


def test_a_key_set_offers_only_es256_public_keys(token_issuer: TokenIssuer) -> None:
    private = token_issuer.key.as_dict(private=True)
    rsa_jwk = {"kty": "RSA", "kid": "r", "n": "AQAB", "e": "AQAB"}
    keys = StaticJwks(
        {"keys": [private | {"kid": "with-d"}, rsa_jwk, {"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]}
    )
    assert keys.get("with-d") is None
    assert keys.get("r") is None
    assert keys.get("h") is None


@pytest.fixture
def many_tokens(token_issuer: TokenIssuer) -> list[str]:
    return [bearer(token_issuer.mint(sub=f"u{n}")) for n in range(50)]


def test_cached_verification_is_a_lookup(token_issuer: TokenIssuer, many_tokens: list[str]) -> None:
    verifier = token_issuer.authenticator()
    for header in many_tokens:
        verifier.authenticate(header)
    started = time.perf_counter()
    for _ in range(200):
        for header in many_tokens:
            verifier.authenticate(header)
    per_call = (time.perf_counter() - started) / (200 * len(many_tokens))
    # A signature check costs ~80 µs; a cache hit well under one. Loose bound: the machine is shared.
    assert per_call < 20e-6
