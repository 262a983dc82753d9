"""The gateway over HTTP, in front of in-process gRPC fakes of the services."""

from __future__ import annotations

import gzip
import logging

import httpx
import orjson
import pytest
from gateway_fakes import ADMIN_TOKEN, Upstream, settings_for
from openapi_spec_validator import validate

from toko.gateway import create_app
from toko.infra.netcheck import free_port

PROBLEM = "application/problem+json"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _problem(response: httpx.Response, status: int, reason: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert body["reason"] == reason
    assert body["type"] == "urn:problem:toko:" + reason.lower().replace("_", "-")
    assert body["requestId"] == response.headers["x-request-id"]
    return body


async def test_get_product_as_proto3_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products/p1")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    product = response.json()["product"]
    assert product["id"] == "p1"
    assert product["shopId"] == "shop-1"
    assert product["version"] == "7"
    assert product["status"] == "PRODUCT_STATUS_ACTIVE"
    assert product["skus"][1]["price"] == {"amount": "30000", "currency": "IDR"}


async def test_query_params_reach_the_service(client: httpx.AsyncClient, upstream: Upstream) -> None:
    response = await client.get("/v1/products", params={"pageSize": "2", "shopId": "s1", "minPrice": "10"})
    assert response.status_code == 200
    assert len(response.json()["products"]) == 2
    request = upstream.calls.requests[-1]
    assert (request.page_size, request.shop_id, request.min_price) == (2, "s1", 10)


async def test_repeated_query_params(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/skus:batchGet?ids=a&ids=b")
    assert [view["sku"]["id"] for view in response.json()["skus"]] == ["a", "b"]


async def test_body_field_route_with_nested_path_variable(
    client: httpx.AsyncClient, upstream: Upstream
) -> None:
    response = await client.patch(
        "/v1/products/p9?updateMask=title", json={"title": "Teh Tarik"}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    assert response.json()["product"] == {"id": "p9", "title": "Teh Tarik"}
    assert list(upstream.calls.requests[-1].update_mask.paths) == ["title"]


async def test_custom_verb_route(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/products/p3:archive", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["product"] == {"id": "p3", "status": "PRODUCT_STATUS_ARCHIVED"}


async def test_unknown_route_and_wrong_method(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/v1/nothing/here"), 404, "ROUTE_NOT_FOUND")
    response = await client.delete("/v1/products/p1")
    _problem(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, HEAD, PATCH"


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    get = await client.get("/v1/products/p1")
    head = await client.head("/v1/products/p1")
    health = await client.head("/livez")
    missing = await client.head("/v1/nothing/here")

    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))
    assert (health.status_code, health.content) == (200, b"")
    assert (missing.status_code, missing.content) == (404, b"")


async def test_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/products", content=b'{"title": ', headers={**ADMIN, "content-type": "application/json"}
    )
    _problem(response, 400, "MALFORMED_JSON")


async def test_unknown_field_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/products", json={"title": "Kopi", "colour": "red"}, headers=ADMIN)
    body = _problem(response, 400, "INVALID_FIELD")
    assert body["violations"] == [
        {"field": "colour", "description": "unknown field", "reason": "UNKNOWN_FIELD"}
    ]


async def test_wrong_type_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/products", json={"weightGrams": "heavy"}, headers=ADMIN)
    body = _problem(response, 400, "INVALID_FIELD")
    assert body["violations"][0]["field"] == "weightGrams"  # type: ignore[index]


async def test_bad_query_param(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/v1/products?pageSize=lots"), 400, "INVALID_FIELD")
    assert body["violations"][0]["field"] == "pageSize"  # type: ignore[index]
    _problem(await client.get("/v1/products?colour=red"), 400, "INVALID_QUERY_PARAMETER")


async def test_body_must_be_an_object_of_json(client: httpx.AsyncClient) -> None:
    _problem(await client.post("/v1/products", json=[1], headers=ADMIN), 400, "BODY_NOT_OBJECT")
    response = await client.post(
        "/v1/products",
        content=b"title=x",
        headers={**ADMIN, "content-type": "application/x-www-form-urlencoded"},
    )
    _problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_oversized_body_with_content_length(client: httpx.AsyncClient, gateway: object) -> None:
    big = b'{"title": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/v1/products", content=big, headers={**ADMIN, "content-type": "application/json"}
    )
    _problem(response, 413, "BODY_TOO_LARGE")
    assert response.headers["connection"] == "close"


async def test_a_body_refused_unread_closes_the_connection_and_a_read_one_keeps_it(
    client: httpx.AsyncClient,
) -> None:
    anonymous = await client.post("/v1/products", json={"title": "Teh Tarik"})
    no_route = await client.post("/v1/no-such-thing", json={"title": "Teh Tarik"}, headers=ADMIN)
    created = await client.post("/v1/products", json={"title": "Teh Tarik"}, headers=ADMIN)
    listed = await client.get("/v1/products")

    _problem(anonymous, 401, "AUTHENTICATION_REQUIRED")
    _problem(no_route, 404, "ROUTE_NOT_FOUND")
    assert anonymous.headers["connection"] == no_route.headers["connection"] == "close"
    assert created.status_code == 200
    assert "connection" not in created.headers
    assert "connection" not in listed.headers


async def test_oversized_body_without_content_length(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/v1/products", content=chunks(), headers={**ADMIN, "content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    _problem(response, 413, "BODY_TOO_LARGE")


async def test_lying_content_length_is_caught_while_reading(upstream: Upstream) -> None:
    app = create_app(settings_for(upstream.address, max_body_bytes=100))
    messages = [{"type": "http.request", "body": b"x" * 80, "more_body": True}] * 3
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/products",
        "raw_path": b"/v1/products",
        "query_string": b"",
        "headers": [
            (b"content-length", b"10"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {ADMIN_TOKEN}".encode()),
        ],
    }
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    await app.aclose()


async def test_upstream_error_details_become_the_problem(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/v1/products/missing"), 404, "PRODUCT_NOT_FOUND")
    assert body["detail"] == "no product missing"
    body = _problem(
        await client.post("/v1/products", json={"title": "K"}, headers=ADMIN), 400, "VALIDATION_FAILED"
    )
    assert body["violations"] == [
        {"field": "title", "description": "must be 3 to 200 characters", "reason": "TITLE_LENGTH"}
    ]


async def test_upstream_crash_is_a_500_without_internals(client: httpx.AsyncClient) -> None:
    body = _problem(await client.get("/v1/echo/boom"), 500, "INTERNAL")
    assert "secret" not in str(body)


async def test_deadline_is_a_504(client: httpx.AsyncClient) -> None:
    _problem(await client.get("/v1/echo/slow"), 504, "DEADLINE_EXCEEDED")


async def test_upstream_down_is_a_503() -> None:
    app = create_app(settings_for(f"127.0.0.1:{free_port()}"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        _problem(await http.get("/v1/echo/hi"), 503, "SERVICE_UNAVAILABLE")
        health = await http.get("/healthz")
        assert health.status_code == 503
        assert health.json()["services"]["toko.echo.v1.EchoService"] == "UNREACHABLE"
    await app.aclose()


async def test_protected_route_without_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/products", json={"title": "Kopi"})
    _problem(response, 401, "AUTHENTICATION_REQUIRED")
    assert response.headers["www-authenticate"] == 'Bearer realm="toko"'


async def test_bad_token(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/products", json={"title": "Kopi"}, headers={"Authorization": "Bearer nope"}
    )
    _problem(response, 401, "INVALID_TOKEN")
    assert response.headers["www-authenticate"] == (
        'Bearer realm="toko", error="invalid_token", '
        'error_description="the token is not a JWT (expected three dot-separated segments)"'
    )
    response = await client.get("/v1/products/p1", headers={"Authorization": "Basic abc"})
    _problem(response, 401, "INVALID_AUTHORIZATION")


async def test_a_valid_token_passes_and_is_forwarded(client: httpx.AsyncClient, upstream: Upstream) -> None:
    response = await client.post(
        "/v1/products", json={"title": "Kopi"}, headers={**ADMIN, "Idempotency-Key": "k-1"}
    )
    assert response.status_code == 200
    metadata = upstream.calls.metadata[-1]
    assert metadata["authorization"] == f"Bearer {ADMIN_TOKEN}"
    assert metadata["idempotency-key"] == "k-1"


async def test_request_id_and_trace_context(client: httpx.AsyncClient, upstream: Upstream) -> None:
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    response = await client.get(
        "/v1/echo/hi", headers={"X-Request-Id": "req-42", "traceparent": traceparent, "tracestate": "a=b"}
    )
    assert response.headers["x-request-id"] == "req-42"
    metadata = upstream.calls.metadata[-1]
    assert (metadata["x-request-id"], metadata["traceparent"], metadata["tracestate"]) == (
        "req-42",
        traceparent,
        "a=b",
    )
    generated = await client.get("/v1/echo/hi")
    request_id = generated.headers["x-request-id"]
    assert len(request_id) == 36
    assert upstream.calls.metadata[-1]["x-request-id"] == request_id
    assert upstream.calls.metadata[-1]["traceparent"].startswith("00-")


async def test_cors_preflight_and_exposed_headers(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/v1/products",
        headers={
            "Origin": "https://shop.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type, x-weird",
        },
    )
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "authorization, content-type"
    simple = await client.get("/v1/products/p1", headers={"Origin": "https://shop.example"})
    assert simple.headers["access-control-allow-origin"] == "*"
    assert simple.headers["access-control-expose-headers"] == "x-request-id"


async def test_cors_with_listed_origins(upstream: Upstream) -> None:
    app = create_app(settings_for(upstream.address, cors_origins=["https://shop.example"]))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        allowed = await http.get("/v1/products/p1", headers={"Origin": "https://shop.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
        other = await http.get("/v1/products/p1", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
    await app.aclose()


async def test_gzip_when_accepted_and_large(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/products?pageSize=20", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["products"]) == 20
    small = await client.get("/v1/echo/hi", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    plain = await client.get("/v1/products?pageSize=20", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


async def test_openapi_served_and_valid(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = orjson.loads(response.content)
    validate(document)
    assert document["paths"]["/v1/products/{id}"]["get"]["summary"] == "GetProduct returns a product by id."


async def test_docs_and_assets_are_served_locally(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/docs/assets/swagger-ui-bundle.js" in page.text
    assert "//" not in page.text.replace("<!DOCTYPE", "").split("<body>")[0].replace('href="/docs', "")
    bundle = await client.get("/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 100_000
    init = await client.get("/docs/assets/swagger-initializer.js")
    assert "/openapi.json" in init.text
    assert 'clientId: "api-docs"' in init.text
    assert "usePkceWithAuthorizationCodeGrant: true" in init.text
    assert 'oauth2RedirectUrl: "http://127.0.0.1:8080/docs/oauth2-redirect.html"' in init.text
    _problem(await client.get("/docs/assets/../../etc/passwd"), 404, "ROUTE_NOT_FOUND")
    _problem(await client.post("/openapi.json"), 405, "METHOD_NOT_ALLOWED")


async def test_swagger_uis_oauth2_redirect_page_is_served_beside_the_docs(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs/oauth2-redirect.html")
    script = await client.get("/docs/oauth2-redirect.js")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="oauth2-redirect.js"></script>' in page.text
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "swaggerUIRedirectOauth2" in script.text


async def test_health_and_liveness(client: httpx.AsyncClient) -> None:
    health = await client.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {
        "status": "SERVING",
        "services": {"toko.echo.v1.EchoService": "SERVING", "toko.product.v1.ProductService": "SERVING"},
        "mounts": [],
        "rateLimiting": {"state": "DISABLED"},
        "revocations": {"state": "DISABLED", "revokedTokens": 0},
    }
    assert (await client.get("/livez")).status_code == 200


async def test_access_log_line(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="toko.gateway"):
        response = await client.get("/v1/products/p1")
    record = next(r for r in caplog.records if r.name == "toko.gateway")
    assert record.__dict__["route"] == "/v1/products/{id}"
    assert record.__dict__["status"] == 200
    assert record.__dict__["request_id"] == response.headers["x-request-id"]
    assert record.__dict__["duration_ms"] >= 0


async def test_demo_pictures_are_drawn_from_their_name(client: httpx.AsyncClient) -> None:
    first = await client.get("/static/demo/kaos-polos-hitam.svg")
    again = await client.get("/static/demo/kaos-polos-hitam.svg")
    second_picture = await client.get("/static/demo/kaos-polos-hitam-2.svg")

    assert first.status_code == 200
    assert first.headers["content-type"] == "image/svg+xml"
    assert "default-src 'none'" in first.headers["content-security-policy"]
    assert first.content == again.content
    assert first.content.startswith(b"<svg")
    assert b"Kaos Polos Hitam" in first.content
    assert second_picture.content != first.content


@pytest.mark.parametrize(
    "name", ["..%2Fopenapi.json", "Kaos.svg", "kaos.jpg", "kaos<script>.svg", "a" * 200 + ".svg"]
)
async def test_names_that_are_not_demo_pictures_are_not_found(client: httpx.AsyncClient, name: str) -> None:
    response = await client.get(f"/static/demo/{name}")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
