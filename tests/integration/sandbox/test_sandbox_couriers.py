"""The stand-in couriers: each company's rate and booking API, tracking, the control API and signed webhooks."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from sandbox_testkit import sandbox_settings

from toko.sandbox.app import RunningSandbox, start_sandbox
from toko.sandbox.asgi import HttpServer, Request, Response, Route, Router

KEY = "test-courier-key"
SECRET = "test-webhook-secret"


class Receiver:
    """The shipping service's side of the webhooks: records each one and answers as told."""

    def __init__(self) -> None:
        self.received: list[Request] = []
        self.answers: list[int] = []

    async def __call__(self, request: Request) -> Response:
        self.received.append(request)
        return Response(status=self.answers.pop(0) if self.answers else 200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, int]]:
    """A webhook receiver on a free port."""
    receiver = Receiver()
    server = await HttpServer.start(
        Router([Route("POST", "/hooks/{courier}", receiver)]), host="127.0.0.1", port=0, grace=1.0
    )
    yield receiver, server.port
    await server.stop()


@pytest.fixture
async def couriers(tmp_path: Path, receiver: tuple[Receiver, int]) -> AsyncIterator[httpx.AsyncClient]:
    """A sandbox whose couriers send webhooks to the receiver, and a client of its couriers."""
    settings = sandbox_settings(
        tmp_path,
        courier_api_key=KEY,
        courier_webhook_secret=SECRET,
        courier_webhook_url=f"http://127.0.0.1:{receiver[1]}/hooks/{{courier}}",
        courier_webhook_first_retry_seconds=0.05,
    )
    sandbox: RunningSandbox = await start_sandbox(settings)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.http_port}/couriers") as client:
        yield client
    await sandbox.stop()


async def jne_prices(client: httpx.AsyncClient, origin: str, destination: str, kg: int = 1) -> dict[str, int]:
    form = {"username": "toko", "api_key": KEY, "from": origin, "thru": destination, "weight": str(kg)}
    answer = await client.post("/jne/tracing/api/pricedev", data=form)
    assert answer.status_code == 200, answer.text
    return {row["service_display"]: int(row["price"]) for row in answer.json()["price"]}


async def test_jne_prices_a_route_by_distance_and_weight(couriers: httpx.AsyncClient) -> None:
    same_city = await jne_prices(couriers, "Kota Bandung", "Bandung")
    same_province = await jne_prices(couriers, "Bandung", "Bekasi")
    same_island = await jne_prices(couriers, "Bandung", "Surabaya")
    other_island = await jne_prices(couriers, "Bandung", "Makassar")

    assert same_city["REG"] < same_province["REG"] < same_island["REG"] < other_island["REG"]
    # Economy does not run within one city; express does not cross the sea.
    assert "OKE" not in same_city
    assert "YES" not in other_island
    assert (await jne_prices(couriers, "Bandung", "Bekasi", kg=3))["REG"] == 3 * same_province["REG"]
    assert await jne_prices(couriers, "Bandung", "Bekasi") == same_province


async def test_each_courier_refuses_wrong_credentials(couriers: httpx.AsyncClient) -> None:
    form = {"username": "toko", "api_key": "wrong", "from": "Bandung", "thru": "Bekasi", "weight": "1"}
    body = orjson.dumps({"weight": 1, "sendSiteCode": "Bandung", "destAreaCode": "Bekasi"})

    answers = [
        await couriers.post("/jne/tracing/api/pricedev", data=form),
        await couriers.post("/jnt/tariff", content=body, headers={"sign": "wrong"}),
        await couriers.get(
            "/sicepat/customer/tariff", params={"origin": "a", "destination": "b", "weight": 1}
        ),
        await couriers.post("/anteraja/serviceRates", json={}, headers={"access-key-id": "x"}),
        await couriers.get("/gosend/slots", headers={"client-id": "x", "pass-key": "wrong"}),
    ]

    assert [answer.status_code for answer in answers] == [401] * 5


async def test_each_courier_answers_in_its_own_shape(couriers: httpx.AsyncClient) -> None:
    body = orjson.dumps({"weight": 2, "sendSiteCode": "Jakarta Selatan", "destAreaCode": "Bandung"})
    sign = base64.b64encode(hashlib.md5(body + KEY.encode()).digest()).decode()
    jnt = (await couriers.post("/jnt/tariff", content=body, headers={"sign": sign})).json()
    sicepat = (
        await couriers.get(
            "/sicepat/customer/tariff",
            params={"origin": "Jakarta Selatan", "destination": "Bandung", "weight": 2},
            headers={"api-key": KEY},
        )
    ).json()
    anteraja = (
        await couriers.post(
            "/anteraja/serviceRates",
            json={"origin": "Jakarta Selatan", "destination": "Bandung", "weight": 2000},
            headers={"access-key-id": "toko", "secret-access-key": KEY},
        )
    ).json()

    assert [row["name"] for row in jnt["content"]] == ["EZ"]
    assert [row["service"] for row in sicepat["sicepat"]["results"]] == ["GOKIL", "REG", "BEST"]
    assert [row["product_code"] for row in anteraja["content"]["services"]] == ["REG", "ND"]


async def test_gosend_delivers_within_one_city_and_offers_slots(couriers: httpx.AsyncClient) -> None:
    keys = {"client-id": "toko", "pass-key": KEY}
    within = await couriers.get(
        "/gosend/price", params={"origin": "Bandung", "destination": "Bandung", "weight": 3}, headers=keys
    )
    across = await couriers.get(
        "/gosend/price", params={"origin": "Bandung", "destination": "Bekasi", "weight": 3}, headers=keys
    )
    slots = await couriers.get(
        "/gosend/slots", params={"city": "Bandung", "service": "SAMEDAY", "date": "2026-12-03"}, headers=keys
    )

    assert within.json()["Instant"]["serviceable"] is True
    assert within.json()["Instant"]["price"]["total_price"] > within.json()["SameDay"]["price"]["total_price"]
    assert across.json()["Instant"]["serviceable"] is False
    assert [(slot["start"], slot["capacity"]) for slot in slots.json()["slots"]] == [
        ("2026-12-03T02:00:00+00:00", 5),
        ("2026-12-03T08:00:00+00:00", 5),
    ]


async def book_jne(couriers: httpx.AsyncClient, reference: str) -> str:
    form = {
        "username": "toko",
        "api_key": KEY,
        "OLSHOP_ORDERID": reference,
        "OLSHOP_SERVICE": "REG",
        "OLSHOP_ORIG": "Bandung",
        "OLSHOP_DEST": "Surabaya",
    }
    answer = await couriers.post("/jne/tracing/api/generatecnote", data=form)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["detail"][0]["cnote_no"])


async def test_a_booked_parcel_moves_on_and_each_move_is_a_signed_webhook(
    couriers: httpx.AsyncClient, receiver: tuple[Receiver, int]
) -> None:
    # Given a parcel booked with JNE (booking the same reference again is the same parcel)
    waybill = await book_jne(couriers, "order-1")
    assert await book_jne(couriers, "order-1") == waybill

    # When it is moved on four times
    for _ in range(4):
        assert (await couriers.post(f"/jne/shipments/{waybill}:advance")).status_code == 200

    # Then tracking shows every stage in JNE's words, and nothing moves a delivered parcel
    track = (await couriers.get(f"/jne/track/{waybill}")).json()
    assert [row["status"] for row in track["history"]] == [
        "MANIFESTED",
        "RECEIVED AT ORIGIN",
        "ON TRANSIT",
        "WITH DELIVERY COURIER",
        "DELIVERED",
    ]
    assert (await couriers.post(f"/jne/shipments/{waybill}:advance")).status_code == 409
    # And each move reached the receiver, signed over its timestamp and body
    hooks, _ = receiver
    await _until(lambda: len(hooks.received) == 4)
    for request in hooks.received:
        signed = request.headers["x-courier-timestamp"].encode() + b"." + request.body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        assert request.headers["x-courier-signature"] == expected
        assert request.path == "/hooks/jne"
    assert [orjson.loads(r.body)["status"] for r in hooks.received] == [
        row["status"] for row in track["history"][1:]
    ]


async def test_a_webhook_is_retried_until_answered(
    couriers: httpx.AsyncClient, receiver: tuple[Receiver, int]
) -> None:
    hooks, _ = receiver
    hooks.answers = [503, 500]
    waybill = await book_jne(couriers, "order-2")

    await couriers.post(f"/jne/shipments/{waybill}:advance", params={"to": "returned"})

    await _until(lambda: len(hooks.received) == 3)
    assert len({r.headers["x-courier-event-id"] for r in hooks.received}) == 1
    assert orjson.loads(hooks.received[-1].body)["status"] == "RETURNED TO SHIPPER"


async def test_bad_control_requests_are_refused(couriers: httpx.AsyncClient) -> None:
    waybill = await book_jne(couriers, "order-3")

    assert (
        await couriers.post(f"/jne/shipments/{waybill}:advance", params={"to": "lost"})
    ).status_code == 400
    assert (
        await couriers.post(f"/jne/shipments/{waybill}:advance", params={"to": "failed_attempt"})
    ).status_code == 409
    assert (await couriers.post("/jne/shipments/JN000:advance")).status_code == 404
    assert (await couriers.get("/jnt/track/nothing")).status_code == 404
    assert (await couriers.post("/jnt/tariff", content=b"x" * 70_000)).status_code == 413


async def _until(condition: object, within: float = 5.0) -> None:
    assert callable(condition)
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within time"
        await asyncio.sleep(0.02)
