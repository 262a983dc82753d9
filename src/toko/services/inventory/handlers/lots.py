"""The lots of perishable SKUs: writing off expired lots (on request for one stock line, and by a background
worker for every line) and listing a line's lots. One transaction each.

Stock lines are locked before their lots are read (lots have no lock of their own), and units leave
through ``move_stock`` like every other movement: a ``write_off`` ledger row per line, the lots moved by
the same deltas, and the availability events of the SKUs staged in the same transaction.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import NotFound
from toko.platform.pagination import Page, PageSpec, bad_page_token, decode_token, encode_token
from toko.services.inventory import domain
from toko.services.inventory.domain import MovementKind
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.handlers.common import (
    SOURCE,
    Inventory,
    move_stock,
    reads_shop,
    require_ids,
    stock_line_for,
    warehouse_not_found,
    writable_warehouse,
)
from toko.services.inventory.mapping import lot_to_proto, stock_to_proto
from toko.services.inventory.repository.common import StockRow
from toko.services.inventory.repository.lots import LotRepository
from toko.services.inventory.repository.stock import Movement, StockRepository
from toko.services.inventory.repository.warehouses import WarehouseRepository

log = logging.getLogger(__name__)

LOT_PAGES = PageSpec(default=50, maximum=200)
EXPIRED_LOTS_REASON = "expired lots"
# Who the ledger names for the write-offs of the background worker.
LOT_EXPIRY_ACTOR = Principal(subject="inventory-lot-expiry", roles=frozenset({"service"}))
DATE_TURN_MARGIN_SECONDS = 0.2


async def write_off_expired_lots(
    *, inventory: Inventory, warehouse_id: str, sku_id: str, principal: Principal
) -> tuple[pb.StockLevel, int]:
    """Write off every unheld unit of a line's lots past their date (one ledger row); returns the units."""
    require_ids(("sku_id", sku_id), ("warehouse_id", warehouse_id))
    async with inventory.database.unit_of_work(SOURCE) as uow:
        warehouse = await writable_warehouse(uow.session, warehouse_id, principal)
        line = await stock_line_for(uow.session, warehouse, sku_id, create=False)
        line = await StockRepository(uow.session).lock_line(line.id)
        ((row, units),) = await write_off_expired_units(uow, [line], inventory.clock().date(), principal)
        if units:
            await uow.commit()
    return stock_to_proto(row), units


def seconds_until_lots_expire(now: datetime) -> float:
    """Seconds from ``now`` until the next lots expire: the date turns (a lot sells through its last day).

    A moment past midnight, so that the clock read then is surely on the new date.
    """
    midnight = datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=now.tzinfo)
    return (midnight - now).total_seconds() + DATE_TURN_MARGIN_SECONDS


async def write_off_due_lots(*, inventory: Inventory, limit: int = 100) -> int:
    """Write off the expired lots of one batch of stock lines; returns how many lines. Safe on many replicas.

    What ``write_off_expired_lots`` does for one line, for up to ``limit`` lines whose lots past their
    date (by the inventory's clock) hold unheld units, as the system actor ``inventory-lot-expiry``.
    """
    today = inventory.clock().date()
    async with inventory.database.unit_of_work(SOURCE) as uow:
        lines = await LotRepository(uow.session).claim_lines_with_expired_lots(today=today, limit=limit)
        if not lines:
            return 0
        written = await write_off_expired_units(uow, lines, today, LOT_EXPIRY_ACTOR)
        await uow.commit()
    log.info(
        "wrote off expired lots", extra={"lines": len(lines), "units": sum(units for _, units in written)}
    )
    return len(lines)


async def write_off_expired_units(
    uow: UnitOfWork, lines: Sequence[StockRow], today: date, principal: Principal
) -> list[tuple[StockRow, int]]:
    """Write off the unheld units of the lots past ``today`` of stock lines the caller has locked.

    One ``write_off`` ledger row (reason "expired lots") per line holding any, all in one move, so the
    availability events of the SKUs show the units gone. Returns each line after, with its units.
    """
    lots = await LotRepository(uow.session).lots_of_lines([line.id for line in lines])
    movements = []
    for line in lines:
        deltas = domain.expired_lots_write_off(lots[line.id], today)
        if deltas:
            units = -sum(delta.on_hand_delta for delta in deltas)
            movements.append(
                Movement(
                    line.id,
                    MovementKind.WRITE_OFF,
                    -units,
                    0,
                    reason=EXPIRED_LOTS_REASON,
                    lots=tuple(deltas),
                )
            )
    moved = await move_stock(uow, movements, principal) if movements else []
    after = {each.row.id: each.row for each in moved}
    written = {movement.stock_id: -movement.on_hand_delta for movement in movements}
    return [(after.get(line.id, line), written.get(line.id, 0)) for line in lines]


async def list_stock_lots(
    *,
    inventory: Inventory,
    warehouse_id: str,
    sku_id: str,
    principal: Principal,
    page_size: int = 0,
    page_token: str = "",
) -> Page[pb.StockLot]:
    """The lots of one stock line holding units, first expired first out.

    Read like a SKU's stock: a shop's lines only by its sellers, admins and services; another shop's
    warehouse is reported as missing, and in a fulfilment centre a seller sees their own SKUs only.
    """
    require_ids(("warehouse_id", warehouse_id), ("sku_id", sku_id))
    size = LOT_PAGES.size(page_size)
    filters = [warehouse_id, sku_id]
    after = _lot_after(page_token, filters)
    today = inventory.clock().date()
    async with inventory.database.sessions() as session:
        warehouse = await WarehouseRepository(session).warehouse(warehouse_id)
        if warehouse is None or (
            warehouse.shop_id is not None and not reads_shop(principal, str(warehouse.shop_id))
        ):
            raise warehouse_not_found(warehouse_id)
        line = await StockRepository(session).stock_line(sku_id=sku_id, warehouse_id=warehouse_id)
        if line is None or not reads_shop(principal, line.shop_id):
            raise NotFound(
                ErrorCode.SKU_NOT_STOCKED, f"warehouse {warehouse_id} has no stock of SKU {sku_id}"
            )
        found = await LotRepository(session).lots_holding_units(line.id, after=after, limit=size + 1)
    last = found[size - 1] if len(found) > size else None
    token = encode_token([last.expires_on.isoformat(), last.code], filters) if last else ""
    return Page([lot_to_proto(lot, today) for lot in found[:size]], token)


def _lot_after(token: str, filters: Sequence[str | int]) -> tuple[date, str] | None:
    """The (expiry date, lot code) a page token continues after; None for the first page."""
    key = decode_token(token, filters, 2)
    if key is None:
        return None
    expiry, code = key
    if isinstance(expiry, str) and isinstance(code, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(expiry), code
    raise bad_page_token()
