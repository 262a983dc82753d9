"""A service whose database drops its connections (a PostgreSQL restart, a failover)."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
from sqlalchemy import text

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.platform.db import Database
from toko.platform.grpc import GrpcService, start_server
from toko.platform.testing_auth import TokenIssuer


class DatabaseEcho(echo_pb2_grpc.EchoServiceServicer):
    """Echo, after one query: a handler that needs its database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def Echo(self, request: echo_pb2.EchoRequest, context: Any) -> echo_pb2.EchoResponse:
        async with self._database.sessions() as session:
            await session.execute(text("SELECT 1"))
        return echo_pb2.EchoResponse(message=request.message)


async def test_a_lost_connection_is_a_retryable_unavailable_and_the_next_call_recovers(
    database: Database, token_issuer: TokenIssuer
) -> None:
    server = await start_server(
        [
            GrpcService(
                descriptor=echo_pb2.DESCRIPTOR.services_by_name["EchoService"],
                servicer=DatabaseEcho(database),
                register=echo_pb2_grpc.add_EchoServiceServicer_to_server,
            )
        ],
        service_name="echo",
        authenticator=token_issuer.authenticator(),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = echo_pb2_grpc.EchoServiceStub(channel)
            await stub.Echo(echo_pb2.EchoRequest(message="halo"))  # the pool holds live connections
            # From a connection of another pool: every connection of the service's pool is ended.
            admin = Database(database.url, pool_size=1)
            async with admin.sessions() as session:
                await session.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            await admin.dispose()
            await asyncio.sleep(0.5)  # the pooled connections are dead now, the pool does not know yet

            outcomes = []
            for _ in range(3):
                try:
                    await stub.Echo(echo_pb2.EchoRequest(message="halo"))
                except grpc.aio.AioRpcError as error:
                    outcomes.append((error.code(), error.details()))
                else:
                    outcomes.append((grpc.StatusCode.OK, ""))
    finally:
        await server.stop(0.5)
    # The call that met a dead connection says so as a retryable UNAVAILABLE, not INTERNAL; SQLAlchemy
    # then replaces the pool's connections and the next calls succeed.
    assert outcomes == [
        (grpc.StatusCode.UNAVAILABLE, "a dependency was unavailable; retry"),
        (grpc.StatusCode.OK, ""),
        (grpc.StatusCode.OK, ""),
    ]
