"""Access tokens for tests: a throwaway ES256 key, its JWKS, and tokens signed with it.

A service under test trusts the key through its settings (``trusting_env()`` gives
``TOKO_AUTH_JWKS`` and ``TOKO_PUBLIC_BASE_URL``); a test then calls it with
``bearer(mint_token(...))`` as the ``authorization`` metadata or header::

    settings = ProductSettings.model_validate({**trusting_env(), "port": 0, ...})
    token = mint_token(sub="u1", roles=["seller"], scopes=["catalog.write"], shop_id=shop)

The key is made once per process, on first use. As a pytest plugin
(``pytest_plugins = ["toko.platform.testing_auth"]``) it offers the ``token_issuer`` fixture.
"""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import Iterable
from typing import Any

import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from toko.platform.auth import ACCESS_TOKEN_AUDIENCE, JwtAuthenticator
from toko.platform.jwks import StaticJwks

__all__ = [
    "TEST_ISSUER",
    "TokenIssuer",
    "bearer",
    "mint_token",
    "shared_issuer",
    "token_issuer",
    "trusting_authenticator",
    "trusting_env",
]

TEST_ISSUER = "http://127.0.0.1:8080"


class TokenIssuer:
    """Signs RFC 9068 access tokens with its own P-256 key, the way the auth service does."""

    def __init__(self, *, issuer: str = TEST_ISSUER, kid: str | None = None) -> None:
        self.issuer = issuer
        self.kid = kid or f"test-{uuid.uuid4().hex[:8]}"
        self.key = ECKey.generate_key("P-256", parameters={"kid": self.kid, "use": "sig", "alg": "ES256"})

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWKS document of the key."""
        return {"keys": [self.key.as_dict(private=False)]}

    @property
    def jwks_json(self) -> str:
        """The JWKS document as JSON, for ``TOKO_AUTH_JWKS``."""
        return orjson.dumps(self.jwks).decode()

    def claims(
        self,
        *,
        sub: str,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        shop_id: str = "",
        client_id: str = "test",
        exp_in: float = 900,
        **overrides: Any,
    ) -> dict[str, Any]:
        """The claims of an access token; ``overrides`` replace (or, set to None, drop) any of them."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": ACCESS_TOKEN_AUDIENCE,
            "sub": sub,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "roles": list(roles),
            "shop_id": shop_id,
            "iat": now,
            "nbf": now,
            "exp": int(now + exp_in),
            "jti": uuid.uuid4().hex,
        }
        for name, value in overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """A compact JWS of ``claims`` with the access-token header (``header`` overrides it)."""
        return jwt.encode({"alg": "ES256", "kid": self.kid, "typ": "at+jwt", **header}, claims, self.key)

    def mint(
        self,
        *,
        sub: str,
        roles: Iterable[str] = (),
        scopes: Iterable[str] = (),
        shop_id: str = "",
        client_id: str = "test",
        exp_in: float = 900,
        **overrides: Any,
    ) -> str:
        """A signed access token."""
        return self.sign(
            self.claims(
                sub=sub,
                roles=roles,
                scopes=scopes,
                shop_id=shop_id,
                client_id=client_id,
                exp_in=exp_in,
                **overrides,
            )
        )

    def authenticator(self, **options: Any) -> JwtAuthenticator:
        """A verifier that trusts this key (``options`` as for ``JwtAuthenticator``)."""
        return JwtAuthenticator(StaticJwks(self.jwks), issuer=self.issuer, **options)

    def env(self) -> dict[str, str]:
        """Settings (shared ``TOKO_*`` variables) that make a service or the gateway trust this key."""
        return {"TOKO_AUTH_JWKS": self.jwks_json, "TOKO_PUBLIC_BASE_URL": self.issuer}


@functools.cache
def shared_issuer() -> TokenIssuer:
    """The process's shared test key, made on first use."""
    return TokenIssuer()


def mint_token(
    *,
    sub: str,
    roles: Iterable[str] = (),
    scopes: Iterable[str] = (),
    shop_id: str = "",
    client_id: str = "test",
    exp_in: float = 900,
    **overrides: Any,
) -> str:
    """An access token signed with the shared test key."""
    return shared_issuer().mint(
        sub=sub, roles=roles, scopes=scopes, shop_id=shop_id, client_id=client_id, exp_in=exp_in, **overrides
    )


def bearer(token: str) -> str:
    """The ``Authorization`` value of a token."""
    return f"Bearer {token}"


def trusting_authenticator(**options: Any) -> JwtAuthenticator:
    """A verifier trusting the shared test key."""
    return shared_issuer().authenticator(**options)


def trusting_env() -> dict[str, str]:
    """Settings that make a service or the gateway trust the shared test key."""
    return shared_issuer().env()


@pytest.fixture
def token_issuer() -> TokenIssuer:
    """The shared test key: ``token_issuer.mint(sub=..., roles=[...], scopes=[...])``."""
    return shared_issuer()
