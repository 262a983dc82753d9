"""HTTP mounts: the auth service's pages forwarded unchanged through the gateway's origin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from gateway_fakes import Upstream, settings_for
from http_upstream import Seen, http_upstream

from toko.gateway import Gateway, create_app
from toko.infra.netcheck import free_port


@pytest.fixture
async def mounted(upstream: Upstream) -> AsyncIterator[tuple[httpx.AsyncClient, Seen, Gateway]]:
    """The gateway with /oauth2/ and /.well-known/ mounted on a real tiny HTTP server."""
    with http_upstream() as (base, seen):
        app = create_app(
            settings_for(
                upstream.address,
                http_upstreams={"/oauth2/": base, "/.well-known/": base},
                max_body_bytes=1000,
            )
        )
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://toko.test") as client:
            yield client, seen, app
        await app.aclose()


async def test_a_request_goes_up_as_it_came_with_forwarding_headers(
    mounted: tuple[httpx.AsyncClient, Seen, Gateway],
) -> None:
    client, seen, _ = mounted

    response = await client.post(
        "/oauth2/token?x=1&y=%2F",
        content=b"grant_type=client_credentials&scope=catalog.write",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": "Basic dG9rby1zY3JpcHRzOnNlY3JldA==",
            "Connection": "keep-alive, x-hop",
            "X-Hop": "must not pass",
            "X-Forwarded-For": "198.51.100.1",
            "X-Forwarded-Host": "evil.example",
            "X-Request-Id": "req-42",
        },
    )

    assert response.status_code == 200
    assert response.headers["x-upstream"] == "yes"
    assert response.headers["x-request-id"] == "req-42"
    got = seen.requests[-1]
    assert (got["method"], got["path"]) == ("POST", "/oauth2/token?x=1&y=%2F")
    assert got["body"] == "grant_type=client_credentials&scope=catalog.write"
    headers = got["headers"]
    assert headers["authorization"] == "Basic dG9rby1zY3JpcHRzOnNlY3JldA=="
    assert headers["content-type"] == "application/x-www-form-urlencoded"
    assert "x-hop" not in headers
    assert headers["x-forwarded-for"] == "198.51.100.1, 203.0.113.7"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"] == "toko.test"
    assert headers["x-request-id"] == "req-42"


async def test_redirects_cookies_and_html_come_back_unchanged(
    mounted: tuple[httpx.AsyncClient, Seen, Gateway],
) -> None:
    client, seen, app = mounted

    redirect = await client.get("/oauth2/authorize?client_id=storefront&response_type=code")
    page = await client.get("/oauth2/login")
    transport = httpx.ASGITransport(app=app, client=("198.51.100.9", 4444))
    async with httpx.AsyncClient(transport=transport, base_url="http://toko.test") as other_browser:
        stranger = await other_browser.get("/oauth2/login")

    assert redirect.status_code == 302
    assert redirect.headers["location"] == "/oauth2/login?next=%2Foauth2%2Fauthorize"
    assert redirect.headers.get_list("set-cookie") == [
        "toko_session=abc123; Path=/oauth2/; HttpOnly; SameSite=Lax",
        "toko_csrf=xyz; Path=/oauth2/; HttpOnly",
    ]
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.text.startswith("<!doctype html>")
    # The browser sends its cookies back through the gateway...
    assert seen.requests[-2]["headers"]["cookie"] == "toko_session=abc123; toko_csrf=xyz"
    # ...but the gateway keeps none of its own: another browser's request carries none.
    assert "cookie" not in seen.requests[-1]["headers"]
    assert stranger.status_code == 200
    assert "keep-alive" not in stranger.headers


async def test_a_body_over_the_limit_never_reaches_the_upstream(
    mounted: tuple[httpx.AsyncClient, Seen, Gateway],
) -> None:
    client, seen, _ = mounted
    before = len(seen.requests)

    response = await client.post("/oauth2/login", content=b"x" * 5000)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert len(seen.requests) == before


async def test_an_upstream_that_is_down_is_a_503_problem(upstream: Upstream) -> None:
    app = create_app(
        settings_for(upstream.address, http_upstreams={"/oauth2/": f"http://127.0.0.1:{free_port()}"})
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://toko.test"
    ) as client:
        response = await client.get("/oauth2/jwks")
        health = await client.get("/healthz")
    await app.aclose()

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "SERVICE_UNAVAILABLE"
    assert health.json()["mounts"] == ["/oauth2/"]


async def test_unmounted_paths_are_still_routes(mounted: tuple[httpx.AsyncClient, Seen, Gateway]) -> None:
    client, seen, _ = mounted
    before = len(seen.requests)
    assert (await client.get("/oauth2x/jwks")).status_code == 404
    assert (await client.get("/v1/products/p1")).status_code == 200
    assert len(seen.requests) == before
