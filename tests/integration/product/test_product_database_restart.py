"""The product service when PostgreSQL drops its connections (a restart, a failover)."""

from __future__ import annotations

import asyncio

import grpc
from sqlalchemy import text

from toko.platform.db import Database
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc
from toko.services.product.settings import ProductSettings


async def test_lost_database_connections_are_a_retryable_unavailable_then_recovered(
    stub: product_pb2_grpc.ProductServiceStub, database: Database, settings: ProductSettings
) -> None:
    await stub.ListProducts(pb.ListProductsRequest(page_size=5))  # the pool holds live connections now
    async with database.sessions() as session:
        ended = await session.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": settings.database_name},
        )
    assert ended
    # Wait until they are gone, so that the next call meets a dead connection.
    for _ in range(200):
        if not await _backends(database, settings.database_name):
            break
        await asyncio.sleep(0.05)

    outcomes = []
    for _ in range(3):
        try:
            await stub.ListProducts(pb.ListProductsRequest(page_size=5))
        except grpc.aio.AioRpcError as error:
            outcomes.append(error.code())
        else:
            outcomes.append(grpc.StatusCode.OK)
    # A call that met a dead connection says so as a retryable UNAVAILABLE, never INTERNAL; the pool
    # then replaces its connections and the next calls succeed.
    assert outcomes[0] == grpc.StatusCode.UNAVAILABLE, outcomes
    assert outcomes[1:] == [grpc.StatusCode.OK, grpc.StatusCode.OK], outcomes


async def _backends(database: Database, name: str) -> int:
    """Connections to database ``name`` other than this one (a new transaction: stats are snapshots)."""
    async with database.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name AND pid <> pg_backend_pid()"),
            {"name": name},
        )
    return int(count or 0)
