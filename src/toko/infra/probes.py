"""Health probes with the real clients: asyncpg, NATS healthz/JetStream, Redis PING, gRPC health, HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from redis.asyncio import Redis

from toko.infra.servers import libpq_url


@dataclass(frozen=True)
class Probe:
    """Outcome of one health check."""

    healthy: bool
    detail: str = ""


async def probe_postgres(database_url: str, seconds: float = 2.0) -> Probe:
    """Connect and run SELECT 1."""
    try:
        conn = await asyncpg.connect(libpq_url(database_url), timeout=seconds)
        try:
            await conn.fetchval("SELECT 1")
        finally:
            await conn.close()
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        return Probe(False, f"{type(exc).__name__}: {exc}")
    return Probe(True)


async def probe_nats(nats_url: str, monitor_url: str | None = None, seconds: float = 2.0) -> Probe:
    """JetStream health via the monitoring endpoint, else a client connection asking for account info."""
    if monitor_url:
        return await probe_http(f"{monitor_url}/healthz?js-enabled-only=true", seconds)
    import nats

    try:
        client = await nats.connect(
            nats_url, connect_timeout=seconds, max_reconnect_attempts=0, allow_reconnect=False
        )
        try:
            await client.jetstream().account_info()
        finally:
            await client.close()
    except Exception as exc:
        return Probe(False, f"{type(exc).__name__}: {exc}")
    return Probe(True)


async def probe_redis(redis_url: str, seconds: float = 2.0) -> Probe:
    """PING."""
    client = Redis.from_url(redis_url, socket_timeout=seconds, socket_connect_timeout=seconds)
    try:
        await client.ping()
    except Exception as exc:
        return Probe(False, f"{type(exc).__name__}: {exc}")
    finally:
        await client.aclose()
    return Probe(True)


async def probe_grpc(address: str, seconds: float = 1.0, service: str = "") -> Probe:
    """grpc.health.v1.Health/Check; SERVING is healthy."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=seconds)
        except grpc.aio.AioRpcError as exc:
            return Probe(False, f"{exc.code().name}: {exc.details()}")
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    return Probe(reply.status == health_pb2.HealthCheckResponse.SERVING, status)


async def probe_http(url: str, seconds: float = 1.0) -> Probe:
    """GET returns 200 (a minimal HTTP/1.1 client: the runtime has no HTTP client dependency)."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    host = parts.hostname or "127.0.0.1"
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(host, parts.port or 80)
            try:
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode()
                )
                await writer.drain()
                status_line = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        return Probe(False, f"{type(exc).__name__}: {exc}")
    fields = status_line.decode(errors="replace").split()
    code = fields[1] if len(fields) > 1 else "?"
    return Probe(code == "200", f"HTTP {code}")
