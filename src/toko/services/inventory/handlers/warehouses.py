"""Warehouses: a shop's own, kept by its sellers, and the platform's fulfilment centres, kept by admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.error_codes import CommonReason
from toko.platform.errors import PermissionDenied
from toko.platform.idempotency import idempotent
from toko.platform.ids import new_id, require_id
from toko.platform.pagination import Page, PageSpec, encode_token, id_after
from toko.platform.validation import ruled
from toko.services.inventory import domain
from toko.services.inventory.domain import WarehouseKind
from toko.services.inventory.handlers.common import (
    SOURCE,
    Inventory,
    authorize_shop,
    id_violations,
    reads_shop,
    warehouse_not_found,
    writable_warehouse,
)
from toko.services.inventory.mapping import warehouse_to_proto
from toko.services.inventory.repository.warehouses import WarehouseRepository

WAREHOUSE_PAGES = PageSpec(default=50, maximum=100)


@dataclass(frozen=True)
class CreateWarehouse:
    """Add a shop warehouse or (admins) a fulfilment centre."""

    shop_id: str
    name: str
    address: str
    city: str
    kind: WarehouseKind | None


async def create_warehouse(
    *, inventory: Inventory, command: CreateWarehouse, principal: Principal, idempotency_key: str = ""
) -> pb.Warehouse:
    """Add a warehouse; fulfilment centres belong to no shop and only admins add them."""
    details = ruled(
        partial(
            domain.warehouse_details,
            kind=command.kind,
            shop_named=bool(command.shop_id),
            name=command.name,
            address=command.address,
            city=command.city,
        ),
        also=id_violations(("shop_id", command.shop_id)) if command.kind is WarehouseKind.SHOP else (),
    )
    shop_id: str | None
    if command.kind is WarehouseKind.FULFILMENT_CENTRE:
        if not principal.is_admin:
            raise PermissionDenied(CommonReason.ROLE_REQUIRED, "only admins add fulfilment centres")
        shop_id = None
    else:
        shop_id = command.shop_id
        authorize_shop(principal, shop_id)
    async with inventory.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation="inventory.CreateWarehouse",
            caller=principal.subject,
            key=idempotency_key,
            command=command,
        ) as replay:
            if replay.stored is not None:
                return pb.Warehouse.FromString(replay.stored)
            row = await WarehouseRepository(uow.session).add_warehouse(
                warehouse_id=new_id(),
                shop_id=shop_id,
                name=details.name,
                address=details.address,
                city=details.city,
                kind=details.kind,
            )
            replay.response = warehouse_to_proto(row)
        await uow.commit()
    created: pb.Warehouse = replay.response
    return created


async def get_warehouse(*, inventory: Inventory, warehouse_id: str, principal: Principal) -> pb.Warehouse:
    """One warehouse; a shop's only to its sellers, admins and services."""
    require_id(warehouse_id, "id")
    async with inventory.database.sessions() as session:
        row = await WarehouseRepository(session).warehouse(warehouse_id)
    if row is None or (row.shop_id is not None and not reads_shop(principal, str(row.shop_id))):
        raise warehouse_not_found(warehouse_id)
    return warehouse_to_proto(row)


async def list_warehouses(
    *, inventory: Inventory, shop_id: str, principal: Principal, page_size: int = 0, page_token: str = ""
) -> Page[pb.Warehouse]:
    """A shop's warehouses, or the fulfilment centres when ``shop_id`` is empty, oldest first."""
    size = WAREHOUSE_PAGES.size(page_size)
    shop = require_id(shop_id, "shop_id") if shop_id else None
    if shop is not None and not reads_shop(principal, shop):
        raise PermissionDenied(CommonReason.NOT_SHOP_OWNER, f"you do not manage shop {shop}")
    filters = [shop or ""]
    after = id_after(page_token, filters)
    async with inventory.database.sessions() as session:
        found = await WarehouseRepository(session).warehouses_of(shop, after=after, limit=size + 1)
    token = encode_token([str(found[size - 1].id)], filters) if len(found) > size else ""
    return Page([warehouse_to_proto(row) for row in found[:size]], token)


async def update_warehouse(
    *, inventory: Inventory, warehouse: pb.Warehouse, mask: Sequence[str], principal: Principal
) -> pb.Warehouse:
    """Change a warehouse's name, address or city."""
    values = ruled(
        partial(
            domain.warehouse_changes,
            mask,
            name=warehouse.name,
            address=warehouse.address,
            city=warehouse.city,
        ),
        also=id_violations(("warehouse.id", warehouse.id)),
    )
    warehouse_id = warehouse.id
    async with inventory.database.unit_of_work(SOURCE) as uow:
        await writable_warehouse(uow.session, warehouse_id, principal)
        row = await WarehouseRepository(uow.session).update_warehouse(warehouse_id, values)
        await uow.commit()
    return warehouse_to_proto(row)
