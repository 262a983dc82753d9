"""Reservations: stock held for an order reference until the order service commits or releases it, or it
expires.

Reservations take ``on_hand - reserved`` (available), not minus safety stock: safety
stock is a replenishment buffer (it raises the reorder point), not units withheld
from buyers. Each reservation locks every stock line of its SKUs in id order
(``FOR UPDATE``), plans on the locked figures (nearest warehouse first: same city,
then same province, then the most available; lines may split), then moves them
with the conditional UPDATEs; concurrent multi-SKU reservations therefore never
deadlock and never take more than is available. Only the ``service`` role (the
order service) reserves, commits and releases.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from google.protobuf.message import Message

from toko.inventory.v1 import events_pb2
from toko.inventory.v1 import inventory_pb2 as pb
from toko.platform.auth import Principal
from toko.platform.db import UnitOfWork
from toko.platform.errors import Conflict, FailedPrecondition, NotFound
from toko.platform.failpoints import crash_point
from toko.platform.ids import new_id
from toko.platform.rules import Violation
from toko.platform.validation import invalid, ruled
from toko.services.inventory import domain
from toko.services.inventory.counters import VALKEY_ERRORS
from toko.services.inventory.domain import Allocated, Line, MovementKind, ReservationStatus
from toko.services.inventory.error_codes import ErrorCode
from toko.services.inventory.handlers.common import (
    SOURCE,
    ClaimReturned,
    Inventory,
    give_back_claims,
    hold_claimed_lines,
    id_violations,
    move_stock,
    rules,
)
from toko.services.inventory.mapping import reservation_to_proto
from toko.services.inventory.repository.reservations import NewReservation, ReservationRepository
from toko.services.inventory.repository.skus import SkuRepository
from toko.services.inventory.repository.stock import Movement


@dataclass(frozen=True)
class Reserve:
    """Hold stock of many SKUs for an order reference."""

    reference: str
    lines: tuple[Line, ...]
    buyer_city: str = ""
    ttl_seconds: int = 0
    buyer_id: str = ""


async def reserve(*, inventory: Inventory, command: Reserve, principal: Principal) -> pb.Reservation:
    """Hold every line or none, nearest warehouses first; a retried reference gets the same answer."""
    request = ruled(
        partial(
            domain.reservation_request,
            reference=command.reference,
            lines=command.lines,
            ttl_seconds=command.ttl_seconds,
            buyer_city=command.buyer_city,
        ),
        also=id_violations(
            *((f"lines[{index}].sku_id", line.sku_id) for index, line in enumerate(command.lines)),
            *(
                (f"lines[{index}].flash_sale_claim_id", line.claim_id)
                for index, line in enumerate(command.lines)
                if line.claim_id
            ),
        )
        + _buyer_violations(command),
    )
    reference, lines, city = request.reference, request.lines, request.buyer_city
    digest = domain.lines_digest(lines)
    # A flash-sale line's units are its claim's, already set apart: only the other lines draw on stock.
    regular = [line for line in lines if not line.claim_id]
    sku_ids = sorted(line.sku_id for line in regular)
    reservation = NewReservation(
        id=new_id(),
        reference=reference,
        status=ReservationStatus.ACTIVE,
        lines=lines,
        lines_digest=digest,
        buyer_city=city,
        actor=principal.subject,
        expires_at=inventory.clock() + request.ttl,
    )
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = ReservationRepository(uow.session)
        inputs = await repository.claim_reservation(reservation, sku_ids, inventory.clock().date())
        if inputs is None:
            existing = await repository.reservation(reference)
            if existing is None:  # the claim that held the reference was rolled back meanwhile
                raise Conflict(ErrorCode.RESERVATION_REFERENCE_BUSY, "the reference is being reserved; retry")
            if existing.lines_digest != digest:
                raise FailedPrecondition(
                    ErrorCode.RESERVATION_REFERENCE_REUSED,
                    f"reference {reference!r} was already used for other lines",
                )
            return reservation_to_proto(existing, await repository.allocations_of([existing.id]))
        unstocked = [sku for sku in sku_ids if sku not in inputs.stocked]
        facts = await SkuRepository(uow.session).sku_facts(unstocked) if unstocked else {}
        unknown = [sku for sku in unstocked if sku not in facts]
        if unknown:
            raise NotFound(
                ErrorCode.SKU_NOT_STOCKED,
                f"no stock is kept of: {', '.join(unknown)}",
                metadata={"sku_ids": ",".join(unknown)},
            )
        archived = sorted(inputs.archived | {sku for sku, (_, gone) in facts.items() if gone})
        if archived:
            raise FailedPrecondition(
                ErrorCode.SKU_ARCHIVED,
                f"off sale for good: {', '.join(archived)}",
                metadata={"sku_ids": ",".join(archived)},
            )
        with rules():
            plan = domain.plan_allocation(regular, inputs.candidates, city)
        claimed = await hold_claimed_lines(
            uow.session, lines, buyer_id=command.buyer_id, reference=reference, now=inventory.clock()
        )
        await move_stock(
            uow,
            [
                Movement(a.stock_id, MovementKind.RESERVATION, 0, a.quantity, reference=reference)
                for a in plan
            ],
            principal,
        )
        await repository.add_allocations(reservation.id, plan + claimed)
        await uow.commit()
    crash_point("inventory.reserve.committed")
    inventory.expiry_alarm.reserved_until(reservation.expires_at)
    return reservation_to_proto(inputs.row, sorted(plan + claimed, key=lambda a: (a.sku_id, a.warehouse_id)))


def _buyer_violations(command: Reserve) -> list[Violation]:
    if any(line.claim_id for line in command.lines) and not command.buyer_id.strip():
        return [
            Violation("buyer_id", "a line cites a flash-sale claim: name its buyer", ErrorCode.BUYER_REQUIRED)
        ]
    return []


async def commit_reservation(*, inventory: Inventory, reference: str, principal: Principal) -> pb.Reservation:
    """Sell what a reservation holds; committing twice is harmless, committing a lapsed one is refused."""
    reference = ruled(partial(domain.valid_reference, reference, required=True))
    expired, returned = False, list[ClaimReturned]()
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = ReservationRepository(uow.session)
        row = await repository.reservation(reference, for_update=True)
        if row is None:
            raise _reservation_not_found(reference)
        status = ReservationStatus(row.status)
        if status is ReservationStatus.COMMITTED:
            return reservation_to_proto(row, await repository.allocations_of([row.id]))
        if status is not ReservationStatus.ACTIVE:
            raise _lapsed(reference, status)
        if row.expires_at <= inventory.clock():
            # Past its time but not yet collected by the worker: expire it here, then refuse.
            _, returned = await _end_reservations(uow, [row], ReservationStatus.EXPIRED, principal)
            expired = True
        else:
            allocations = await repository.allocations_of([row.id])
            await move_stock(
                uow,
                [
                    Movement(
                        str(a.stock_id), MovementKind.SALE, -a.quantity, -a.quantity, reference=reference
                    )
                    for a in allocations
                ],
                principal,
            )
            (committed,) = await repository.set_reservation_status([row.id], ReservationStatus.COMMITTED)
            message = reservation_to_proto(committed, allocations)
            uow.publish(events_pb2.ReservationCommitted(reservation=message), subject=reference)
        await uow.commit()
    if expired:
        await _restore_counters(inventory, returned)
        raise _lapsed(reference, ReservationStatus.EXPIRED)
    return message


async def release_reservation(
    *, inventory: Inventory, reference: str, principal: Principal
) -> pb.Reservation:
    """Give a reservation's stock back; releasing a released or expired one changes nothing."""
    reference = ruled(partial(domain.valid_reference, reference, required=True))
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = ReservationRepository(uow.session)
        row = await repository.reservation(reference, for_update=True)
        if row is None:
            raise _reservation_not_found(reference)
        status = ReservationStatus(row.status)
        if status is ReservationStatus.COMMITTED:
            raise FailedPrecondition(
                ErrorCode.RESERVATION_COMMITTED,
                f"reservation {reference!r} was sold; return the goods instead",
            )
        if status is not ReservationStatus.ACTIVE:
            return reservation_to_proto(row, await repository.allocations_of([row.id]))
        (message,), returned = await _end_reservations(uow, [row], ReservationStatus.RELEASED, principal)
        await uow.commit()
    await _restore_counters(inventory, returned)
    return message


async def return_reserved_stock(
    *,
    inventory: Inventory,
    reference: str,
    return_reference: str,
    lines: tuple[Line, ...],
    principal: Principal,
) -> pb.ReturnReservedStockResponse:
    """Put units a committed reservation sold back where they came from, once per return reference."""
    reference = ruled(partial(domain.valid_reference, reference, required=True))
    asked = ruled(
        partial(domain.validate_lines, lines),
        also=id_violations(*((f"lines[{index}].sku_id", line.sku_id) for index, line in enumerate(lines))),
    )
    key = return_reference.strip()
    if not 1 <= len(key) <= domain.REFERENCE_MAX_LENGTH:
        raise invalid(
            [
                Violation(
                    "return_reference",
                    f"must be 1 to {domain.REFERENCE_MAX_LENGTH} characters",
                    ErrorCode.INVALID_REFERENCE,
                )
            ]
        )
    digest = domain.lines_digest(asked)
    async with inventory.database.unit_of_work(SOURCE) as uow:
        repository = ReservationRepository(uow.session)
        row = await repository.reservation(reference, for_update=True)
        if row is None:
            raise _reservation_not_found(reference)
        earlier = await repository.return_of(key)
        if earlier is not None:
            if earlier.lines_digest != digest or earlier.reservation_id != row.id:
                raise FailedPrecondition(
                    ErrorCode.RETURN_REFERENCE_REUSED, f"return {key!r} was made of other lines"
                )
            return _returned(earlier.returned, earlier.left_out)
        if ReservationStatus(row.status) is not ReservationStatus.COMMITTED:
            raise FailedPrecondition(
                ErrorCode.RESERVATION_NOT_COMMITTED,
                f"reservation {reference!r} is {row.status}: only what was sold goes back on hand",
            )
        left_out = sorted(await repository.perishable_of([line.sku_id for line in asked]))
        sold = [
            Allocated(str(a.stock_id), str(a.sku_id), str(a.warehouse_id), a.quantity)
            for a in await repository.allocations_of([row.id])
        ]
        before = [
            Allocated(str(stock_id), str(sku_id), str(warehouse_id), quantity)
            for earlier_return in await repository.returns_of(row.id)
            for stock_id, sku_id, warehouse_id, quantity in earlier_return.returned
        ]
        with rules():
            plan = domain.plan_return([line for line in asked if line.sku_id not in left_out], sold, before)
        await move_stock(
            uow,
            [
                Movement(
                    a.stock_id, MovementKind.RETURN_TO_STOCK, a.quantity, 0, reference=key, reason="not sent"
                )
                for a in plan
            ],
            principal,
        )
        if not await repository.add_return(
            return_reference=key, reservation_id=row.id, lines_digest=digest, returned=plan, left_out=left_out
        ):
            raise FailedPrecondition(
                ErrorCode.RETURN_REFERENCE_REUSED, f"return {key!r} was made of other lines"
            )
        await uow.commit()
    return _returned([[a.stock_id, a.sku_id, a.warehouse_id, a.quantity] for a in plan], left_out)


def _returned(returned: Sequence[Sequence[Any]], left_out: Sequence[str]) -> pb.ReturnReservedStockResponse:
    return pb.ReturnReservedStockResponse(
        returned=[
            pb.Allocation(sku_id=str(sku_id), warehouse_id=str(warehouse_id), quantity=int(quantity))
            for _, sku_id, warehouse_id, quantity in returned
        ],
        lot_tracked_sku_ids=list(left_out),
    )


async def get_reservation(*, inventory: Inventory, reference: str) -> pb.Reservation:
    """A reservation by its reference."""
    reference = ruled(partial(domain.valid_reference, reference, required=True))
    async with inventory.database.sessions() as session:
        repository = ReservationRepository(session)
        row = await repository.reservation(reference)
        if row is None:
            raise _reservation_not_found(reference)
        return reservation_to_proto(row, await repository.allocations_of([row.id]))


EXPIRY_ACTOR = Principal(subject="inventory-expiry", roles=frozenset({"service"}))
EXPIRY_MARGIN_SECONDS = 0.1


async def expire_due_reservations(*, inventory: Inventory, limit: int = 100) -> int:
    """Release one batch of reservations past their time; returns how many. Safe on many replicas."""
    async with inventory.database.unit_of_work(SOURCE) as uow:
        rows = await ReservationRepository(uow.session).claim_expired(now=inventory.clock(), limit=limit)
        if not rows:
            return 0
        _, returned = await _end_reservations(uow, rows, ReservationStatus.EXPIRED, EXPIRY_ACTOR)
        await uow.commit()
    await _restore_counters(inventory, returned)
    return len(rows)


async def seconds_until_next_expiry(*, inventory: Inventory) -> float | None:
    """Seconds until the first active reservation expires (None when none is active), noted on the alarm.

    A moment past its time, so that the clock read then surely finds it due; never below that moment,
    so a due reservation another transaction holds locked is not polled for in a tight loop.
    """
    inventory.expiry_alarm.looking()
    async with inventory.database.sessions() as session:
        due_at = await ReservationRepository(session).earliest_expiry()
    inventory.expiry_alarm.planned(due_at)
    if due_at is None:
        return None
    return max((due_at - inventory.clock()).total_seconds(), 0.0) + EXPIRY_MARGIN_SECONDS


async def _end_reservations(
    uow: UnitOfWork, rows: Sequence[Any], status: ReservationStatus, principal: Principal
) -> tuple[list[pb.Reservation], list[ClaimReturned]]:
    """Release the stock of locked active reservations and mark them ``status``, with their events; the
    flash-sale units given back to quotas, for ``restore_counters`` once committed."""
    repository = ReservationRepository(uow.session)
    ids = [row.id for row in rows]
    allocations = await repository.allocations_of(ids)
    references = {row.id: row.reference for row in rows}
    # Claimed units first: their campaigns' rows are locked before any stock line, as every writer does.
    returned: list[ClaimReturned] = []
    shelf: list[Movement] = []
    for row in rows:
        claimed = [a for a in allocations if a.reservation_id == row.id and a.claim_id is not None]
        if claimed:
            back, moves = await give_back_claims(
                uow.session, claimed, reference=row.reference, reason=status.value
            )
            returned += back
            shelf += moves
    # One move for the whole batch: its stock rows are then locked in one global id order.
    await move_stock(
        uow,
        [
            Movement(
                str(a.stock_id),
                MovementKind.RELEASE,
                0,
                -a.quantity,
                reference=references[a.reservation_id],
                reason=status.value,
            )
            for a in allocations
            if a.claim_id is None
        ]
        + shelf,
        principal,
    )

    ended = await repository.set_reservation_status(ids, status)
    messages = []
    for row in ended:
        message = reservation_to_proto(row, [a for a in allocations if a.reservation_id == row.id])
        event: Message = (
            events_pb2.ReservationExpired(reservation=message)
            if status is ReservationStatus.EXPIRED
            else events_pb2.ReservationReleased(reservation=message)
        )
        uow.publish(event, subject=row.reference)
        messages.append(message)
    return messages, returned


async def _restore_counters(inventory: Inventory, returned: Sequence[ClaimReturned]) -> None:
    """Give claims' units back in Valkey too (best effort: reconciliation repairs a miss)."""
    for claim in returned:
        with contextlib.suppress(*VALKEY_ERRORS):
            await inventory.flash_sales.give_back(
                claim.campaign_id, claim.sku_id, claim.buyer_id, claim.quantity
            )


def _reservation_not_found(reference: str) -> NotFound:
    return NotFound(ErrorCode.RESERVATION_NOT_FOUND, f"no reservation {reference!r}")


def _lapsed(reference: str, status: ReservationStatus) -> FailedPrecondition:
    return FailedPrecondition(
        ErrorCode.RESERVATION_EXPIRED,
        f"reservation {reference!r} was {status.value}; its stock is no longer held",
        metadata={"status": status.value},
    )
