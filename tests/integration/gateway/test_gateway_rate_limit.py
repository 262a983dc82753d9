"""Rate limiting and revocation at the gateway, on the session's real Valkey; failing open without it."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from gateway_fakes import Upstream, settings_for
from http_upstream import http_upstream

from toko.gateway import Gateway, create_app
from toko.infra.netcheck import free_port
from toko.infra.servers import InfraEndpoints
from toko.platform.cache import create_valkey
from toko.platform.testing_auth import TokenIssuer, bearer

LIMITS: dict[str, Any] = {
    "rate_limit_enabled": True,
    "rate_limit_api_ip": {"limit": 3, "window": 60},
    "rate_limit_api_client": {"limit": 5, "window": 60},
    "rate_limit_sign_in_ip": {"limit": 2, "window": 60},
}
Client = Callable[..., httpx.AsyncClient]


def _ip() -> str:
    # Buckets live in the session's Valkey: every test is a different caller.
    return f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"


@pytest.fixture
async def limited(
    upstream: Upstream, infrastructure: InfraEndpoints
) -> AsyncIterator[tuple[Gateway, Client]]:
    """The gateway with small limits on the real Valkey, mounts on a tiny HTTP server, and a client factory."""
    with http_upstream() as (base, _):
        app = create_app(
            settings_for(
                upstream.address,
                redis_url=infrastructure.redis_url,
                http_upstreams={"/oauth2/": base, "/account/": base},
                **LIMITS,
            )
        )

        def client(ip: str) -> httpx.AsyncClient:
            return httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=(ip, 1234)), base_url="http://gw"
            )

        yield app, client
        await app.aclose()


async def test_an_anonymous_caller_is_limited_per_ip_with_headers(
    limited: tuple[Gateway, Client], upstream: Upstream
) -> None:
    _, client = limited
    async with client(_ip()) as http:
        answers = [await http.get("/v1/products/p1") for _ in range(3)]
        calls = len(upstream.calls.requests)
        refused = await http.get("/v1/products/p1")
        calls_after = len(upstream.calls.requests)
    async with client(_ip()) as neighbour:
        other = await neighbour.get("/v1/products/p1")

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["ratelimit"] for a in answers] == [
        '"api-ip";r=2;t=20',
        '"api-ip";r=1;t=40',
        '"api-ip";r=0;t=60',
    ]
    assert answers[0].headers["ratelimit-policy"] == '"api-ip";q=3;w=60'
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["reason"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    assert refused.headers["ratelimit"] == f'"api-ip";r=0;t={refused.headers["retry-after"]}'
    assert calls_after == calls  # the refused request went nowhere
    assert other.status_code == 200


async def test_an_authenticated_caller_has_a_bucket_of_its_own(
    limited: tuple[Gateway, Client], token_issuer: TokenIssuer
) -> None:
    _, client = limited
    token = bearer(token_issuer.mint(sub=f"u-{uuid.uuid4()}", client_id="storefront"))
    async with client(_ip()) as http:
        for _ in range(3):
            await http.get("/v1/products/p1")
        assert (await http.get("/v1/products/p1")).status_code == 429
        with_token = [await http.get("/v1/products/p1", headers={"Authorization": token}) for _ in range(6)]

    assert [r.status_code for r in with_token] == [200] * 5 + [429]
    assert with_token[0].headers["ratelimit-policy"] == '"api-client";q=5;w=60'


async def test_bad_tokens_spend_the_ip_budget(limited: tuple[Gateway, Client]) -> None:
    _, client = limited
    async with client(_ip()) as http:
        statuses = [
            (await http.get("/v1/products/p1", headers={"Authorization": "Bearer x"})).status_code
            for _ in range(4)
        ]
    assert statuses == [401, 401, 401, 429]


@pytest.mark.parametrize(
    ("post", "page"), [("/oauth2/token", "/oauth2/login"), ("/account/signup", "/account/signup")]
)
async def test_sign_in_and_account_posts_have_a_stricter_limit(
    limited: tuple[Gateway, Client], post: str, page: str
) -> None:
    _, client = limited
    async with client(_ip()) as http:
        posts = [(await http.post(post, content=b"grant_type=x")).status_code for _ in range(3)]
        shown = await http.get(page)

    assert posts == [200, 200, 429]
    assert shown.status_code == 200
    assert shown.headers["ratelimit-policy"] == '"api-ip";q=3;w=60'


async def test_a_revoked_token_is_refused_on_protected_routes(
    limited: tuple[Gateway, Client], token_issuer: TokenIssuer, infrastructure: InfraEndpoints
) -> None:
    _, client = limited
    jti = uuid.uuid4().hex
    token = token_issuer.mint(sub="s1", roles=["seller"], scopes=["catalog.write"], shop_id="shop-1", jti=jti)
    headers = {"Authorization": bearer(token)}
    valkey = create_valkey(infrastructure.redis_url)
    async with client(_ip()) as http:
        before = await http.post("/v1/products", json={"title": "Kopi"}, headers=headers)
        await valkey.set(f"toko:auth:revoked:{jti}", b"1", ex=900)
        after = await http.post("/v1/products", json={"title": "Kopi"}, headers=headers)
        public = await http.get("/v1/products/p1", headers=headers)
    await valkey.aclose()

    assert before.status_code == 200
    assert after.status_code == 401
    assert after.json()["reason"] == "INVALID_TOKEN"
    assert 'error_description="the token has been revoked"' in after.headers["www-authenticate"]
    assert public.status_code == 200


async def test_a_token_revoked_because_the_roles_changed_is_refused_saying_to_refresh_it(
    limited: tuple[Gateway, Client], token_issuer: TokenIssuer, infrastructure: InfraEndpoints
) -> None:
    _, client = limited
    tokens = {cause: uuid.uuid4().hex for cause in ("roles", "password", "unknown")}
    valkey = create_valkey(infrastructure.redis_url)
    await valkey.set(f"toko:auth:revoked:{tokens['roles']}", b"REVOCATION_CAUSE_ROLES_CHANGED", ex=900)
    await valkey.set(f"toko:auth:revoked:{tokens['password']}", b"REVOCATION_CAUSE_PASSWORD_CHANGED", ex=900)
    await valkey.set(f"toko:auth:revoked:{tokens['unknown']}", b"SOMETHING_ELSE", ex=900)
    await valkey.aclose()
    answers = {}
    async with client(_ip()) as http:
        for cause, jti in tokens.items():
            token = token_issuer.mint(sub=f"u-{jti}", roles=["buyer"], scopes=["catalog.write"], jti=jti)
            answers[cause] = await http.post(
                "/v1/products", json={"title": "Kopi"}, headers={"Authorization": bearer(token)}
            )

    roles = answers["roles"]
    assert roles.status_code == 401
    assert roles.json()["reason"] == "TOKEN_ROLES_CHANGED"
    assert "refresh it" in roles.json()["detail"]
    assert 'error="invalid_token"' in roles.headers["www-authenticate"]
    assert [answers[c].json()["reason"] for c in ("password", "unknown")] == ["INVALID_TOKEN"] * 2


async def test_without_valkey_requests_pass_and_the_gateway_says_so(
    upstream: Upstream, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(settings_for(upstream.address, redis_url=f"redis://127.0.0.1:{free_port()}/0", **LIMITS))
    transport = httpx.ASGITransport(app=app, client=(_ip(), 1))
    with caplog.at_level(logging.WARNING, logger="toko.platform.ratelimit"):
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            answers = [await http.get("/v1/products/p1") for _ in range(5)]
            health = (await http.get("/healthz")).json()
    await app.aclose()

    assert [answer.status_code for answer in answers] == [200] * 5
    assert "ratelimit" not in answers[0].headers
    assert health["rateLimiting"] == {"state": "FAILING_OPEN", "failedOpenRequests": 5}
    warnings = [r for r in caplog.records if "failing open" in r.getMessage()]
    assert len(warnings) == 1
