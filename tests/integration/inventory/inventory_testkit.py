"""Helpers of the inventory service's integration tests (a module of its own: conftest is not importable).

Callers authenticate with access tokens signed by the platform's shared test key
(``toko.platform.testing_auth``), which the service under test trusts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy import text

from toko.infra.servers import InfraEndpoints
from toko.inventory.v1 import inventory_pb2 as pb
from toko.inventory.v1 import inventory_pb2_grpc
from toko.platform.auth import Principal
from toko.platform.db import Database
from toko.platform.testing_auth import bearer, mint_token, trusting_env
from toko.services.inventory.settings import InventorySettings

Stub = inventory_pb2_grpc.InventoryServiceStub
Metadata = tuple[tuple[str, str], ...]


def inventory_settings(
    infrastructure: InfraEndpoints, database_name: str, **overrides: Any
) -> InventorySettings:
    """Settings pointing at the session's servers and a database of the test's own."""
    return InventorySettings.model_validate(
        {
            **trusting_env(),
            "TOKO_DATABASE_URL": infrastructure.database_url,
            "TOKO_NATS_URL": infrastructure.nats_url,
            "TOKO_REDIS_URL": infrastructure.redis_url,
            "port": 0,
            "database_name": database_name,
            "db_pool_size": 8,
            "expiry_interval_seconds": 0.2,
            # As under make up: demo shops' new SKUs get opening stock (off by default, in production).
            "demo_stock": True,
            # Tests expire lots by hand and write them off on request; those of the worker set it short.
            "lot_write_off_interval_seconds": 3600.0,
            **overrides,
        }
    )


def new_id() -> str:
    """An id nobody else uses."""
    return str(uuid.uuid4())


def _metadata(principal: Principal) -> Metadata:
    token = mint_token(
        sub=principal.subject, roles=principal.roles, scopes=principal.scopes, shop_id=principal.shop_id
    )
    return (("authorization", bearer(token)),)


def admin() -> Principal:
    """A platform admin."""
    return Principal(subject="admin-1", roles=frozenset({"admin"}), scopes=frozenset({"shop.manage"}))


def seller(shop_id: str) -> Principal:
    """A seller of ``shop_id`` allowed to manage it."""
    return Principal(
        subject=f"seller-{shop_id[:8]}",
        roles=frozenset({"seller"}),
        scopes=frozenset({"shop.manage"}),
        shop_id=shop_id,
    )


def service() -> Principal:
    """Another service of the platform (the order service)."""
    return Principal(subject="order-service", roles=frozenset({"service"}))


def buyer(name: str) -> Principal:
    """A signed-in buyer."""
    return Principal(subject=f"buyer-{name}", roles=frozenset({"buyer"}))


def as_(principal: Principal) -> Metadata:
    """gRPC metadata authenticating as ``principal``."""
    return _metadata(principal)


def error_details(error: grpc.aio.AioRpcError) -> tuple[str, list[str], dict[str, str]]:
    """The ErrorInfo reason and metadata and the BadRequest field paths of a failed call."""
    raw = dict(error.trailing_metadata() or ())["grpc-status-details-bin"]
    status = status_pb2.Status.FromString(raw)
    reason, fields, metadata = "", [], {}
    for detail in status.details:
        info, bad_request = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
        if detail.Unpack(info):
            reason, metadata = info.reason, dict(info.metadata)
        elif detail.Unpack(bad_request):
            fields = [v.field for v in bad_request.field_violations]
    return reason, fields, metadata


async def failure(call: Awaitable[Any]) -> tuple[grpc.StatusCode, str, list[str]]:
    """Await a call that must fail; its status code, reason and fields at fault."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    reason, fields, _ = error_details(caught.value)
    return caught.value.code(), reason, fields


async def new_warehouse(stub: Stub, shop_id: str, city: str = "Bandung", name: str = "Gudang") -> str:
    """A shop warehouse in ``city``; its id."""
    reply = await stub.CreateWarehouse(
        pb.CreateWarehouseRequest(shop_id=shop_id, name=name, city=city, address="Jl. Asia Afrika 1"),
        metadata=as_(seller(shop_id)),
    )
    return reply.warehouse.id


async def receive(stub: Stub, shop_id: str, warehouse_id: str, sku_id: str, quantity: int) -> pb.StockLevel:
    """Receive ``quantity`` units into a warehouse."""
    reply = await stub.ReceiveStock(
        pb.ReceiveStockRequest(warehouse_id=warehouse_id, sku_id=sku_id, quantity=quantity, reference="DN-1"),
        metadata=as_(seller(shop_id)),
    )
    return reply.stock


async def stocked_sku(stub: Stub, quantity: int, city: str = "Bandung") -> tuple[str, str, str]:
    """A new shop with one warehouse holding ``quantity`` units of a new SKU: (shop, warehouse, sku)."""
    shop_id, sku_id = new_id(), new_id()
    warehouse_id = await new_warehouse(stub, shop_id, city)
    await receive(stub, shop_id, warehouse_id, sku_id, quantity)
    return shop_id, warehouse_id, sku_id


async def invariant_breaches(database: Database) -> list[str]:
    """Every stock line breaking a ledger invariant (empty when the books are right).

    - on hand and reserved equal the sums of the ledger's deltas;
    - reserved equals the active reservations' allocations plus the flash-sale quotas held: a live
      campaign's quota less what its claims sold, an ended one's units still in checkouts;
    - available is never negative; a SKU's total equals the sum of its lines;
    - a perishable SKU's line is the sum of its lots (on hand and reserved), and no lot is negative.
    """
    async with database.sessions() as session:
        rows = await session.execute(
            text(
                """
                SELECT s.id, s.on_hand, s.reserved, s.available,
                       coalesce((SELECT sum(on_hand_delta) FROM stock_ledger l WHERE l.stock_id = s.id), 0) AS ledger_on_hand,
                       coalesce((SELECT sum(reserved_delta) FROM stock_ledger l WHERE l.stock_id = s.id), 0) AS ledger_reserved,
                       coalesce((SELECT sum(a.quantity) FROM reservation_allocations a
                                   JOIN reservations r ON r.id = a.reservation_id
                                  WHERE a.stock_id = s.id AND r.status = 'active' AND a.claim_id IS NULL), 0)
                     + coalesce((SELECT sum(CASE WHEN f.closed_at IS NULL
                                                 THEN f.quota - (SELECT coalesce(sum(c.quantity), 0)
                                                                   FROM flash_sale_claims c
                                                                   JOIN reservations r ON r.reference = c.reservation_reference
                                                                  WHERE c.allocation_id = f.id AND c.status = 'used'
                                                                    AND r.status = 'committed')
                                                 ELSE (SELECT coalesce(sum(c.quantity), 0)
                                                         FROM flash_sale_claims c
                                                         JOIN reservations r ON r.reference = c.reservation_reference
                                                        WHERE c.allocation_id = f.id AND c.status = 'used'
                                                          AND r.status = 'active') END)
                                   FROM flash_sale_allocations f WHERE f.stock_id = s.id), 0) AS held
                  FROM stock s
                """
            )
        )
        breaches = [
            f"stock {row.id}: on_hand={row.on_hand} reserved={row.reserved} ledger=({row.ledger_on_hand}, "
            f"{row.ledger_reserved}) held={row.held}"
            for row in rows
            if row.on_hand != row.ledger_on_hand
            or row.reserved != row.ledger_reserved
            or row.reserved != row.held
            or row.available < 0
        ]
        totals = await session.execute(
            text(
                "SELECT k.id FROM skus k WHERE k.available <> "
                "coalesce((SELECT sum(available) FROM stock s WHERE s.sku_id = k.id), 0)"
            )
        )
        breaches += [f"sku {row.id}: total out of step" for row in totals]
        lots = await session.execute(
            text(
                """
                SELECT s.id, s.on_hand, s.reserved,
                       coalesce((SELECT sum(l.on_hand) FROM stock_lots l WHERE l.stock_id = s.id), 0) AS lots_on_hand,
                       coalesce((SELECT sum(l.reserved) FROM stock_lots l WHERE l.stock_id = s.id), 0) AS lots_reserved,
                       (SELECT count(*) FROM stock_lots l
                         WHERE l.stock_id = s.id AND (l.reserved < 0 OR l.reserved > l.on_hand)) AS bad_lots
                  FROM stock s JOIN skus k ON k.id = s.sku_id
                 WHERE k.perishable
                """
            )
        )
        breaches += [
            f"stock {row.id}: on_hand={row.on_hand} reserved={row.reserved} "
            f"lots=({row.lots_on_hand}, {row.lots_reserved}) bad lots={row.bad_lots}"
            for row in lots
            if (row.on_hand, row.reserved, row.bad_lots) != (row.lots_on_hand, row.lots_reserved, 0)
        ]
    return breaches
