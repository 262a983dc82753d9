"""The platform as a user meets it: `toko up`, then HTTP through the gateway."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import nats
import pytest
from openapi_spec_validator import validate

from toko.common.v1.event_pb2 import EventEnvelope
from toko.product.v1 import events_pb2

if TYPE_CHECKING:
    from conftest import Platform

pytestmark = pytest.mark.e2e
PROBLEM = "application/problem+json"


def wait_until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {seconds} s")
        time.sleep(0.2)


def first_category_and_shop(client: httpx.Client) -> tuple[str, str]:
    product = client.get("/v1/products", params={"page_size": 1}).json()["products"][0]
    return product["categoryId"], product["shopId"]


def new_product(category_id: str, shop_id: str, **overrides: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    body: dict[str, Any] = {
        "shopId": shop_id,
        "categoryId": category_id,
        "title": f"Kaos Polos Cotton Combed 30s {suffix}",
        "description": "Bahan adem, jahitan rapi.",
        "condition": "CONDITION_NEW",
        "status": "PRODUCT_STATUS_ACTIVE",
        "weightGrams": 200,
        "dimensions": {"lengthMm": 300, "widthMm": 200, "heightMm": 20},
        "options": [
            {"name": "Warna", "values": ["Hitam", "Putih"]},
            {"name": "Ukuran", "values": ["M", "L"]},
        ],
        "skus": [
            {
                "code": f"KP-{colour[0]}{size}-{suffix}",
                "optionValues": {"Warna": colour, "Ukuran": size},
                "price": {"amount": "45000", "currency": "IDR"},
            }
            for colour in ("Hitam", "Putih")
            for size in ("M", "L")
        ],
    }
    body.update(overrides)
    return body


def assert_problem(response: httpx.Response, status: int, reason: str, field: str | None = None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    problem = response.json()
    assert problem["status"] == status
    assert problem["reason"] == reason, problem
    if field is not None:
        assert any(v["field"].startswith(field) for v in problem.get("violations", [])), problem


def shop_product_count(client: httpx.Client, shop_id: str) -> int:
    total, token = 0, ""
    while True:
        page = client.get(
            "/v1/products", params={"shop_id": shop_id, "page_size": 100, "page_token": token}
        ).json()
        total += len(page.get("products", []))
        token = page.get("nextPageToken", "")
        if not token:
            return total


def test_every_service_reports_healthy(platform: Platform) -> None:
    with platform.client() as client:
        response = client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "SERVING"
    # The gateway has read the auth service's revocations so far and follows new ones.
    assert response.json()["revocations"]["state"] == "CURRENT"


def test_the_demo_marketplace_is_seeded(platform: Platform) -> None:
    products: list[dict[str, Any]] = []
    with platform.client() as client:
        token = ""
        while True:
            page = client.get("/v1/products", params={"page_size": 100, "page_token": token}).json()
            products += page["products"]
            token = page.get("nextPageToken", "")
            if not token:
                break
        categories = client.get("/v1/categories", params={"page_size": 200}).json()["categories"]
    assert len(products) >= 1000
    assert len({p["id"] for p in products}) == len(products), "pagination repeated a product"
    assert len({p["shopId"] for p in products}) >= 20
    assert len(categories) >= 20
    assert all(p["minPrice"]["currency"] == "IDR" and int(p["minPrice"]["amount"]) > 0 for p in products)


def test_a_seller_lifecycle_create_read_update_archive(platform: Platform) -> None:
    with platform.client() as client:
        category_id, shop_id = first_category_and_shop(client)
        created = client.post("/v1/products", json=new_product(category_id, shop_id), headers=platform.auth)
        assert created.status_code == 200, created.text
        product = created.json()["product"]
        assert len(product["skus"]) == 4

        by_id = client.get(f"/v1/products/{product['id']}").json()["product"]
        assert by_id["title"] == product["title"]
        by_slug = client.get(f"/v1/shops/{shop_id}/products/{product['slug']}").json()["product"]
        assert by_slug["id"] == product["id"]

        updated = client.patch(
            f"/v1/products/{product['id']}",
            params={"updateMask": "title"},
            json={"title": "Kaos Polos Premium Edisi Baru"},
            headers=platform.auth,
        )
        assert updated.status_code == 200, updated.text
        # The cache is invalidated on write: the next read sees the change at once.
        assert (
            client.get(f"/v1/products/{product['id']}").json()["product"]["title"]
            == "Kaos Polos Premium Edisi Baru"
        )

        sku_ids = [s["id"] for s in product["skus"]]
        skus = client.get("/v1/skus:batchGet", params={"ids": sku_ids}).json()["skus"]
        assert [s["sku"]["id"] for s in skus] == sku_ids

        archived = client.post(f"/v1/products/{product['id']}:archive", json={}, headers=platform.auth)
        assert archived.json()["product"]["status"] == "PRODUCT_STATUS_ARCHIVED"
        listed = client.get("/v1/products", params={"shop_id": shop_id, "page_size": 100}).json()["products"]
        assert product["id"] not in {p["id"] for p in listed}


def test_a_retried_create_with_the_same_idempotency_key_creates_once(platform: Platform) -> None:
    with platform.client() as client:
        category_id, shop_id = first_category_and_shop(client)
        body = new_product(category_id, shop_id)
        headers = platform.auth | {"Idempotency-Key": str(uuid.uuid4())}
        first = client.post("/v1/products", json=body, headers=headers)
        second = client.post("/v1/products", json=body, headers=headers)
        assert first.status_code == second.status_code == 200
        assert first.json()["product"]["id"] == second.json()["product"]["id"]
        changed = client.post("/v1/products", json=body | {"title": "Judul Lain Sekali"}, headers=headers)
        assert_problem(changed, 422, "IDEMPOTENCY_KEY_REUSED")


def test_writes_need_a_token(platform: Platform) -> None:
    with platform.client() as client:
        category_id, shop_id = first_category_and_shop(client)
        anonymous = client.post("/v1/products", json=new_product(category_id, shop_id))
        assert_problem(anonymous, 401, "AUTHENTICATION_REQUIRED")
        assert anonymous.headers["www-authenticate"].startswith("Bearer")
        forged = client.post(
            "/v1/products", json=new_product(category_id, shop_id), headers={"Authorization": "Bearer forged"}
        )
        assert_problem(forged, 401, "INVALID_TOKEN")


@pytest.mark.parametrize(
    ("change", "status", "reason", "field"),
    [
        ({"colour": "merah"}, 400, "INVALID_FIELD", "colour"),
        ({"weightGrams": "berat"}, 400, "INVALID_FIELD", "weightGrams"),
        ({"title": ""}, 400, None, "title"),
        ({"skus": []}, 400, None, "skus"),
        (
            {
                "skus": [
                    {
                        "code": "X1",
                        "optionValues": {"Warna": "Hitam", "Ukuran": "M"},
                        "price": {"amount": "-5"},
                    }
                ]
            },
            400,
            None,
            "skus[0].price",
        ),
        (
            {
                "skus": [
                    {
                        "code": "X2",
                        "optionValues": {"Warna": "Hitam", "Ukuran": "M"},
                        "price": {"amount": "900000000000000"},
                    }
                ]
            },
            400,
            None,
            "skus[0].price",
        ),
        (
            {
                "skus": [
                    {
                        "code": "X3",
                        "optionValues": {"Warna": "Ungu", "Ukuran": "M"},
                        "price": {"amount": "1000"},
                    }
                ]
            },
            400,
            None,
            "skus[0].option",
        ),
        ({"title": "Kaos\u0000Polos"}, 400, "NUL_CHARACTER", "title"),
        (
            {
                "skus": [
                    {
                        "code": "X4",
                        "optionValues": {"Warna": "Hi\u0000tam", "Ukuran": "M"},
                        "price": {"amount": "1000"},
                    }
                ]
            },
            400,
            "NUL_CHARACTER",
            "skus[0].option_values",
        ),
    ],
    ids=[
        "unknown-field",
        "wrong-type",
        "missing-title",
        "no-skus",
        "negative-price",
        "absurd-price",
        "sku-options-mismatch",
        "nul-in-title",
        "nul-in-option-value",
    ],
)
def test_bad_product_input_is_a_4xx_problem_and_writes_nothing(
    platform: Platform, change: dict[str, Any], status: int, reason: str | None, field: str
) -> None:
    with platform.client() as client:
        category_id, shop_id = first_category_and_shop(client)
        before = shop_product_count(client, shop_id)
        response = client.post(
            "/v1/products", json=new_product(category_id, shop_id) | change, headers=platform.auth
        )
        assert response.status_code == status, response.text
        problem = response.json()
        assert response.headers["content-type"].startswith(PROBLEM)
        assert problem["reason"]
        if reason:
            assert problem["reason"] == reason
        assert any(v["field"].startswith(field) for v in problem["violations"]), problem
        assert shop_product_count(client, shop_id) == before


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z"], ids=["year-9999", "year-1"])
def test_a_timestamp_at_either_end_of_its_range_is_a_400_naming_the_field(
    platform: Platform, at: str
) -> None:
    with platform.client() as client:
        product = client.get("/v1/products", params={"page_size": 1}).json()["products"][0]
        line = {"skuId": product["skus"][0]["id"], "quantity": 1}
        assert client.post("/v1/prices:quote", json={"lines": [line]}).status_code == 200

        response = client.post("/v1/prices:quote", json={"lines": [line], "at": at})

        assert_problem(response, 400, "TIMESTAMP_OUT_OF_RANGE", "at")


def test_a_taken_slug_is_a_conflict_and_writes_nothing(platform: Platform) -> None:
    with platform.client() as client:
        category_id, shop_id = first_category_and_shop(client)
        body = new_product(category_id, shop_id, slug=f"kaos-unik-{uuid.uuid4().hex[:6]}")
        assert client.post("/v1/products", json=body, headers=platform.auth).status_code == 200
        before = shop_product_count(client, shop_id)
        again = new_product(category_id, shop_id, slug=body["slug"])
        assert_problem(client.post("/v1/products", json=again, headers=platform.auth), 409, "SLUG_TAKEN")
        assert shop_product_count(client, shop_id) == before


def test_paging_and_routing_mistakes_are_4xx_problems(platform: Platform) -> None:
    with platform.client() as client:
        assert_problem(
            client.get("/v1/products", params={"page_size": 5000}), 400, "PAGE_SIZE_OUT_OF_RANGE", "page_size"
        )
        assert_problem(
            client.get("/v1/products", params={"page_token": "not-a-token"}), 400, "INVALID_PAGE_TOKEN"
        )
        assert_problem(client.get("/v1/products", params={"page_size": "many"}), 400, "INVALID_FIELD")
        assert_problem(client.get("/v1/no-such-thing"), 404, "ROUTE_NOT_FOUND")
        wrong_method = client.delete("/v1/products")
        assert_problem(wrong_method, 405, "METHOD_NOT_ALLOWED")
        assert "GET" in wrong_method.headers["allow"]
        assert_problem(client.get(f"/v1/products/{uuid.uuid4()}"), 404, "PRODUCT_NOT_FOUND")
        huge = client.post(
            "/v1/products",
            content=b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}',
            headers=platform.auth | {"Content-Type": "application/json"},
        )
        assert_problem(huge, 413, "BODY_TOO_LARGE")
        # The unread rest of the body spoils the connection; the client is told to open a new one.
        assert huge.headers["connection"] == "close"
        malformed = client.post(
            "/v1/products", content=b"{not json", headers=platform.auth | {"Content-Type": "application/json"}
        )
        assert_problem(malformed, 400, "MALFORMED_JSON")


def test_request_ids_go_in_and_come_out(platform: Platform) -> None:
    with platform.client() as client:
        mine = client.get("/v1/categories", headers={"X-Request-Id": "req-e2e-1"})
        generated = client.get("/v1/categories")
    assert mine.headers["x-request-id"] == "req-e2e-1"
    assert generated.headers["x-request-id"]


def test_openapi_is_valid_and_docs_are_served_locally(platform: Platform) -> None:
    with platform.client() as client:
        spec = client.get("/openapi.json").json()
        docs = client.get("/docs")
    validate(spec)
    assert "/v1/products/{id}" in spec["paths"]
    assert docs.status_code == 200
    assert "http://" not in docs.text.replace(platform.base_url, "") or "https://" not in docs.text


def test_created_products_reach_jetstream_as_events(platform: Platform) -> None:
    nats_url = json.loads((platform.data_dir / "run" / "state.json").read_text())["endpoints"]["nats_url"]

    async def scenario() -> EventEnvelope:
        connection = await nats.connect(nats_url)
        try:
            js = connection.jetstream()
            subscription = await js.subscribe("toko.product.ProductCreated", deliver_policy="new")
            with platform.client() as client:
                category_id, shop_id = first_category_and_shop(client)
                created = client.post(
                    "/v1/products", json=new_product(category_id, shop_id), headers=platform.auth
                )
            product_id = created.json()["product"]["id"]
            while True:
                message = await subscription.next_msg(timeout=10)
                envelope = EventEnvelope.FromString(message.data)
                if envelope.subject == product_id:
                    return envelope
        finally:
            await connection.close()

    envelope = asyncio.run(scenario())
    event = events_pb2.ProductCreated()
    assert envelope.payload.Unpack(event)
    assert envelope.type == "toko.product.v1.ProductCreated"
    assert event.product.id == envelope.subject


def test_a_crashed_service_is_restarted_by_the_supervisor(platform: Platform) -> None:
    state = json.loads((platform.data_dir / "run" / "state.json").read_text())
    product = next(s for s in state["services"] if s["name"] == "product")
    os.kill(product["pid"], signal.SIGKILL)

    def serving_again() -> bool:
        try:
            with platform.client() as client:
                return (
                    client.get("/healthz").status_code == 200
                    and client.get("/v1/categories").status_code == 200
                )
        except httpx.HTTPError:
            return False

    wait_until(serving_again, seconds=60)


def test_make_up_runs_the_sandbox_whose_mailbox_shows_what_its_smtp_server_got(platform: Platform) -> None:
    import smtplib
    from email.message import EmailMessage

    mailbox = f"http://127.0.0.1:{platform.env['TOKO_SANDBOX_PORT']}"
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "toko <no-reply@toko.test>", "budi@toko.test", "Halo"
    message.set_content("Buka https://toko.test/account/verify-email?token=abc")
    with smtplib.SMTP("127.0.0.1", int(platform.env["TOKO_SANDBOX_SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message)

    listed = httpx.get(f"{mailbox}/mailbox/api/messages", params={"to": "budi@toko.test"}, timeout=10)
    page = httpx.get(f"{mailbox}/mailbox", timeout=10)

    assert listed.status_code == 200
    assert [m["subject"] for m in listed.json()["messages"]] == ["Halo"]
    assert page.status_code == 200
    assert "Halo" in page.text
    assert f"sandbox   {mailbox}/mailbox" in "\n".join(platform.output)


def test_shipping_rates_come_from_the_sandbox_couriers_under_make_up(platform: Platform) -> None:
    # Every courier unreachable would still answer 200 with no rate: the quote must really reach them.
    with platform.client() as client:
        answer = client.post(
            "/v1/shipping-rates:quote",
            json={
                "origin": {"province": "Jawa Barat", "city": "Kota Bandung"},
                "destination": {"province": "Jawa Barat", "city": "Kota Bandung", "district": "Coblong"},
                "items": [{"weightGrams": 900, "quantity": 1}],
            },
        )
    assert answer.status_code == 200, answer.text
    couriers = {rate["courier"] for rate in answer.json()["rates"]}
    assert {"jne", "jnt", "sicepat", "anteraja", "gosend"} <= couriers
