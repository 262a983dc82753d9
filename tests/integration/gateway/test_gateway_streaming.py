"""Server-streaming RPCs through the gateway as Server-Sent Events, over a real HTTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import uvicorn
from gateway_fakes import Upstream, settings_for

from toko.gateway import create_app
from toko.infra.netcheck import free_port
from toko.platform.embedded_http import EmbeddedServer


@pytest.fixture(scope="module")
async def base_url(upstream: Upstream) -> AsyncIterator[str]:
    """The gateway served by uvicorn, with a heartbeat short enough to see."""
    app = create_app(settings_for(upstream.address, stream_heartbeat=0.2))
    port = free_port()
    server = EmbeddedServer(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(100):
            try:
                await http.get("/livez")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task
    await app.aclose()


def _events(text: str) -> list[dict[str, str]]:
    """The events of an event stream, comments left out."""
    events = []
    for block in text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if fields:
            events.append(fields)
    return events


async def test_each_message_is_one_event_with_an_id(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/v1/echo/halo:stream", params={"count": 3, "intervalMs": 10})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-request-id"]
    events = _events(response.text)
    assert [event["id"] for event in events] == ["1", "2", "3"]
    assert [orjson.loads(event["data"]) for event in events] == [{"message": "halo"}] * 3


async def test_events_arrive_as_they_happen_with_heartbeats_between(base_url: str) -> None:
    async with (
        httpx.AsyncClient(base_url=base_url) as http,
        http.stream("GET", "/v1/echo/pelan:stream", params={"count": 2, "intervalMs": 700}) as response,
    ):
        chunks = [chunk async for chunk in response.aiter_text()]
    text = "".join(chunks)
    assert ": keep-alive" in text
    # The first event came before the second was sent, not with it at the end.
    first_event = next(i for i, chunk in enumerate(chunks) if "data:" in chunk)
    assert first_event < len(chunks) - 1
    assert len(_events(text)) == 2


async def test_an_error_before_the_first_message_is_a_problem_document(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/v1/echo/refused:stream", params={"count": 1})
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["reason"] == "STREAM_NOT_FOUND"


async def test_an_error_after_the_first_message_ends_the_stream_with_an_error_event(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/v1/echo/boom:stream", params={"count": 3})
    assert response.status_code == 200
    events = _events(response.text)
    assert orjson.loads(events[0]["data"]) == {"message": "boom"}
    assert events[-1]["event"] == "error"
    problem = orjson.loads(events[-1]["data"])
    assert problem["status"] == 500
    assert "secret" not in events[-1]["data"]


async def test_a_client_that_leaves_cancels_the_upstream_call(base_url: str, upstream: Upstream) -> None:
    async with (
        httpx.AsyncClient(base_url=base_url) as http,
        http.stream("GET", "/v1/echo/pergi:stream", params={"count": 50, "intervalMs": 5000}) as response,
    ):
        async for chunk in response.aiter_text():
            if "data:" in chunk:
                break
    for _ in range(50):
        if "pergi" in upstream.calls.cancelled_streams:
            break
        await asyncio.sleep(0.05)
    assert "pergi" in upstream.calls.cancelled_streams


async def test_a_bad_query_is_refused_before_the_stream(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/v1/echo/x:stream", params={"count": "many"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
