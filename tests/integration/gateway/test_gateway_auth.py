"""Bearer tokens at the edge: 401 and 403 with their RFC 6750 challenges, and nothing reaches the service."""

from __future__ import annotations

import httpx
import pytest
from gateway_fakes import Upstream

from toko.platform.testing_auth import TokenIssuer, bearer

PROBLEM = "application/problem+json"


def _refused(response: httpx.Response, status: int, reason: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["reason"] == reason
    return str(response.headers.get("www-authenticate", ""))


async def _create(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/v1/products", json={"title": "Kopi"}, headers={"Authorization": bearer(token)})


@pytest.mark.parametrize(
    ("claims", "why"),
    [
        ({"exp_in": -120}, "the token has expired"),
        ({"aud": "another-api"}, "the token's audience is not toko-api"),
        ({"iss": "https://evil.example"}, "the token was issued by another issuer"),
    ],
)
async def test_a_bad_token_is_a_401_that_says_why(
    client: httpx.AsyncClient,
    upstream: Upstream,
    token_issuer: TokenIssuer,
    claims: dict[str, object],
    why: str,
) -> None:
    calls = len(upstream.calls.requests)
    token = token_issuer.mint(sub="admin-1", roles=["admin"], scopes=["catalog.write"], **claims)  # type: ignore[arg-type]

    challenge = _refused(await _create(client, token), 401, "INVALID_TOKEN")

    assert challenge == f'Bearer realm="toko", error="invalid_token", error_description="{why}"'
    assert len(upstream.calls.requests) == calls


async def test_a_token_from_a_foreign_key_is_a_401(client: httpx.AsyncClient, upstream: Upstream) -> None:
    calls = len(upstream.calls.requests)
    forged = TokenIssuer().mint(sub="mallory", roles=["admin"], scopes=["catalog.write"])

    challenge = _refused(await _create(client, forged), 401, "INVALID_TOKEN")

    assert 'error_description="the token is signed by an unknown key"' in challenge
    assert len(upstream.calls.requests) == calls


async def test_alg_none_and_oversized_tokens_are_401s(
    client: httpx.AsyncClient, token_issuer: TokenIssuer
) -> None:
    header, body, _ = token_issuer.mint(sub="u", roles=["admin"], scopes=["catalog.write"]).split(".")
    unsigned = "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + body + "."
    assert "algorithm 'none'" in _refused(await _create(client, unsigned), 401, "INVALID_TOKEN")
    huge = f"{header}.{'A' * 9000}.x"
    assert "longer than 8192 bytes" in _refused(await _create(client, huge), 401, "INVALID_TOKEN")


async def test_a_bad_token_is_refused_on_a_public_route_too(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/v1/products/p1", headers={"Authorization": bearer(TokenIssuer().mint(sub="u"))}
    )
    _refused(response, 401, "INVALID_TOKEN")


async def test_a_missing_scope_is_a_403_naming_the_scope(
    client: httpx.AsyncClient, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.mint(sub="s1", roles=["seller"], scopes=["openid", "account"], shop_id="shop-1")

    challenge = _refused(await _create(client, token), 403, "SCOPE_REQUIRED")

    assert challenge == 'Bearer realm="toko", error="insufficient_scope", scope="catalog.write"'


async def test_a_buyer_calling_a_seller_rpc_is_a_403(
    client: httpx.AsyncClient, upstream: Upstream, token_issuer: TokenIssuer
) -> None:
    calls = len(upstream.calls.requests)
    token = token_issuer.mint(sub="b1", roles=["buyer"], scopes=["catalog.write", "account"])

    response = await client.post("/v1/products/p1:archive", headers={"Authorization": bearer(token)})

    _refused(response, 403, "ROLE_REQUIRED")
    assert "www-authenticate" not in response.headers
    assert len(upstream.calls.requests) == calls


async def test_a_seller_token_is_forwarded_for_the_service_to_check_again(
    client: httpx.AsyncClient, upstream: Upstream, token_issuer: TokenIssuer
) -> None:
    token = token_issuer.mint(sub="s1", roles=["seller"], scopes=["catalog.write"], shop_id="shop-1")

    response = await _create(client, token)

    assert response.status_code == 200
    assert upstream.calls.metadata[-1]["authorization"] == bearer(token)


async def test_an_anonymous_read_forwards_no_authorization(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    assert (await client.get("/v1/products/p1")).status_code == 200
    assert "authorization" not in upstream.calls.metadata[-1]
