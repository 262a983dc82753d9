"""The gateway as a real server process (granian), in front of the in-process fakes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx
import orjson
from gateway_fakes import ADMIN_TOKEN, ECHO, PRODUCTS, Upstream

from toko.infra.netcheck import free_port
from toko.platform.testing_auth import trusting_env


async def _wait_until_up(http: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    for _ in range(100):
        if process.returncode is not None:
            raise AssertionError(f"the gateway exited with {process.returncode}")
        try:
            if (await http.get("/livez")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not start")


async def test_serves_over_http_and_stops_gracefully_on_sigterm(upstream: Upstream) -> None:
    port = free_port()
    env = {
        **os.environ,
        "TOKO_GATEWAY_PORT": str(port),
        "TOKO_GATEWAY_UPSTREAMS": orjson.dumps({ECHO: upstream.address, PRODUCTS: upstream.address}).decode(),
        **trusting_env(),
        "TOKO_GATEWAY_RATE_LIMIT_ENABLED": "false",
        "TOKO_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "toko.gateway", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            await _wait_until_up(http, process)
            product = await http.get("/v1/products/a%2Fb")
            assert product.status_code == 200
            assert product.json()["product"]["id"] == "a/b"
            archived = await http.post(
                "/v1/products/p1:archive", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={}
            )
            assert archived.json()["product"]["status"] == "PRODUCT_STATUS_ARCHIVED"
            assert (await http.get("/healthz")).json()["status"] == "SERVING"
            missing = await http.get("/v1/products/missing")
            assert missing.status_code == 404
            assert missing.headers["content-type"] == "application/problem+json"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, stderr = await asyncio.wait_for(process.communicate(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    assert process.returncode == 0, stderr.decode()
