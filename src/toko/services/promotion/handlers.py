"""The promotion service's use cases, one transaction each.

Holding usages is where races meet: every checkout locks its vouchers' rows in id order, counts
under the lock and writes its usages and the counters before it commits, so the last usage of a
voucher goes to exactly one of any number of racing checkouts (and the table's CHECK constraint
would refuse a count over the limit if the code ever tried). A transaction-scoped advisory lock on
the checkout id makes a checkout's own retries wait for each other instead of both writing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database, UnitOfWork
from toko.platform.error_codes import CommonReason
from toko.platform.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
)
from toko.platform.failpoints import crash_point
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id, require_id
from toko.platform.pagination import PageSpec, bad_page_token, decode_token, encode_token
from toko.platform.rules import Violation
from toko.platform.validation import invalid, ruled
from toko.promotion.v1 import events_pb2
from toko.promotion.v1 import promotion_pb2 as pb
from toko.services.promotion import domain
from toko.services.promotion.domain import Checkout, Usage, UsageState, Voucher, VoucherDraft
from toko.services.promotion.error_codes import ErrorCode
from toko.services.promotion.mapping import outcome_to_proto, usage_to_proto, voucher_to_proto
from toko.services.promotion.repository import PromotionRepository

SOURCE = "promotion"
CREATE_VOUCHER_OPERATION = "promotion.CreateVoucher"
VOUCHERS_PAGE = PageSpec(default=20, maximum=100)
MAX_LINES = 100
MAX_REQUESTED = 10
MAX_QUANTITY = 10_000
MAX_CHECKOUT_ID_LENGTH = 100
LONGEST_HOLD = timedelta(days=7)
MAX_AMOUNT = 10**15  # far above any checkout, far below what int64 and arithmetic on it can hold


@dataclass(frozen=True)
class Promotions:
    """What the use cases work with: the database and a clock.

    ``wake`` is set when a hold commits, so the expiry worker learns of an earlier lapse at once.
    """

    database: Database
    clock: Clock = field(default=utcnow)
    wake: asyncio.Event = field(default_factory=asyncio.Event)


# --- vouchers --------------------------------------------------------------------------------


async def create_voucher(
    *, promotions: Promotions, draft: VoucherDraft, principal: Principal, idempotency_key: str = ""
) -> pb.Voucher:
    """Make a voucher: a shop's by its seller (or an admin), a platform voucher by an admin only."""
    id_violations = _id_violations(draft)
    if draft.shop_id and is_id(draft.shop_id) and not principal.manages(draft.shop_id):
        raise PermissionDenied(
            CommonReason.NOT_SHOP_OWNER, "only the shop's seller or an admin makes its vouchers"
        )
    if not draft.shop_id and not principal.is_admin:
        raise PermissionDenied(ErrorCode.PLATFORM_VOUCHER_ADMIN_ONLY, "only admins make platform vouchers")
    async with promotions.database.unit_of_work(SOURCE) as uow:
        async with idempotent(
            uow.session,
            operation=CREATE_VOUCHER_OPERATION,
            caller=principal.subject,
            key=idempotency_key,
            command=draft,
        ) as replay:
            if replay.stored is not None:
                return pb.Voucher.FromString(replay.stored)
            voucher = ruled(
                partial(domain.new_voucher, draft, voucher_id=new_id(), now=promotions.clock()),
                also=id_violations,
            )
            if not await PromotionRepository(uow.session).add(voucher):
                raise AlreadyExists(
                    ErrorCode.VOUCHER_CODE_TAKEN, f"another voucher has the code {voucher.code}"
                )
            message = voucher_to_proto(voucher)
            uow.publish(events_pb2.VoucherCreated(voucher=message), subject=voucher.id)
            replay.response = message
        await uow.commit()
    return message


def _id_violations(draft: VoucherDraft) -> list[Violation]:
    found = [] if not draft.shop_id or is_id(draft.shop_id) else [_not_an_id("voucher.shop_id")]
    for name, ids in (
        ("eligible_shop_ids", draft.eligible_shop_ids),
        ("eligible_category_ids", draft.eligible_category_ids),
        ("eligible_sku_ids", draft.eligible_sku_ids),
    ):
        found += [_not_an_id(f"voucher.{name}[{i}]") for i, value in enumerate(ids) if not is_id(value)]
    return found


def _not_an_id(path: str) -> Violation:
    return Violation(path, "must be a UUID", CommonReason.INVALID_ID)


async def get_voucher(*, promotions: Promotions, voucher_id: str, principal: Principal) -> pb.Voucher:
    """A voucher with its counts, to admins and its shop's seller; NOT_FOUND to anyone else."""
    require_id(voucher_id, "id")
    async with promotions.database.single_reads() as session:
        voucher = await PromotionRepository(session).get(voucher_id)
    return voucher_to_proto(_managed(voucher, voucher_id, principal))


def _managed(voucher: Voucher | None, voucher_id: str, principal: Principal) -> Voucher:
    if voucher is None or not (
        principal.is_admin or (voucher.shop_id and principal.manages(voucher.shop_id))
    ):
        raise NotFound(ErrorCode.VOUCHER_NOT_FOUND, f"no voucher {voucher_id}")
    return voucher


async def end_voucher(*, promotions: Promotions, voucher_id: str, principal: Principal) -> pb.Voucher:
    """End a voucher now; ending it again changes nothing."""
    require_id(voucher_id, "id")
    async with promotions.database.unit_of_work(SOURCE) as uow:
        repository = PromotionRepository(uow.session)
        voucher = _managed(await repository.get(voucher_id, for_update=True), voucher_id, principal)
        ended = domain.after_end(voucher, promotions.clock())
        message = voucher_to_proto(ended)
        if ended is not voucher:
            await repository.end(voucher.id, ended.ended_at or promotions.clock())
            uow.publish(events_pb2.VoucherEnded(voucher=message), subject=voucher.id)
        await uow.commit()
    return message


async def list_vouchers(
    *, promotions: Promotions, shop_id: str, page_size: int, page_token: str
) -> tuple[list[pb.Voucher], str]:
    """Vouchers live now, the platform's and the shop's, ending soonest first."""
    if shop_id:
        require_id(shop_id, "shop_id")
    limit = VOUCHERS_PAGE.size(page_size)
    filters = [shop_id]
    key = decode_token(page_token, filters, 2)
    after = None
    if key is not None:
        try:
            after = (datetime.fromisoformat(str(key[0])), str(key[1]))
        except ValueError as exc:
            raise bad_page_token() from exc
    async with promotions.database.single_reads() as session:
        found = await PromotionRepository(session).live(
            promotions.clock(), shop_id=shop_id, after=after, limit=limit + 1
        )
    page = found[:limit]
    next_token = (
        encode_token([page[-1].end_at.isoformat(), page[-1].id], filters) if len(found) > limit else ""
    )
    return [voucher_to_proto(voucher) for voucher in page], next_token


# --- applying vouchers to a checkout ---------------------------------------------------------


@dataclass(frozen=True)
class ApplyVouchers:
    """A checkout to apply vouchers to."""

    buyer_id: str
    checkout: Checkout
    requested: tuple[str, ...]
    at: datetime | None


def check_checkout(checkout: Checkout, requested: Sequence[str]) -> None:
    """Refuse, naming every field at fault, a checkout no real one looks like."""
    found: list[Violation] = []
    bad = ErrorCode.INVALID_CHECKOUT
    if not 1 <= len(checkout.lines) <= MAX_LINES:
        found.append(Violation("lines", f"1 to {MAX_LINES} lines", bad))
    for i, line in enumerate(checkout.lines):
        path = f"lines[{i}]"
        found += [
            _not_an_id(f"{path}.{name}") for name in ("sku_id", "shop_id") if not is_id(getattr(line, name))
        ]
        if line.category_id and not is_id(line.category_id):
            found.append(_not_an_id(f"{path}.category_id"))
        if not 1 <= line.quantity <= MAX_QUANTITY:
            found.append(Violation(f"{path}.quantity", f"1 to {MAX_QUANTITY}", bad))
        if not 0 <= line.line_total <= MAX_AMOUNT:
            found.append(Violation(f"{path}.line_total.amount", "must not be negative", bad))
    if len({line.sku_id for line in checkout.lines}) != len(checkout.lines):
        found.append(Violation("lines", "one line per SKU", bad))
    for shop_id, fee in checkout.shipping.items():
        if not is_id(shop_id):
            found.append(_not_an_id("shipping.shop_id"))
        if not 0 <= fee <= MAX_AMOUNT:
            found.append(Violation("shipping.fee.amount", "must not be negative", bad))
    if len(requested) > MAX_REQUESTED:
        found.append(Violation("vouchers", f"at most {MAX_REQUESTED}", bad))
    found += [
        Violation(f"vouchers[{i}]", "1 to 64 characters", bad)
        for i, v in enumerate(requested)
        if not 0 < len(v) <= 64
    ]
    if found:
        raise invalid(found)


async def apply_vouchers(
    *, promotions: Promotions, command: ApplyVouchers, principal: Principal
) -> pb.ApplyVouchersResponse:
    """The discounts the asked-for and auto-applied vouchers give the checkout; nothing is held."""
    buyer_id = _buyer(command.buyer_id, principal)
    check_checkout(command.checkout, command.requested)
    at = command.at or promotions.clock()
    asked = [value.strip() for value in command.requested]
    ids = [value for value in asked if is_id(value)]
    codes = [value.upper() for value in asked if not is_id(value)]
    async with promotions.database.single_reads() as session:
        repository = PromotionRepository(session)
        found = await repository.find(ids, codes)
        automatic = await repository.automatic(at, sorted({line.shop_id for line in command.checkout.lines}))
        counted = await repository.buyer_usages(buyer_id, [v.id for v in [*found, *automatic]])
    by_key = {v.id: v for v in found} | {v.code: v for v in found if v.code}
    requested = [(value, by_key.get(value if is_id(value) else value.upper())) for value in asked]
    outcome = domain.apply_vouchers(
        command.checkout, requested=requested, automatic=automatic, buyer_usages=counted, at=at
    )
    return outcome_to_proto(outcome)


def _buyer(asked: str, principal: Principal) -> str:
    """The buyer a request is about: the caller, or anyone when a service or an admin names them."""
    trusted = principal.is_admin or "service" in principal.roles
    buyer_id = asked if asked and trusted else principal.subject
    if asked and asked != principal.subject and not trusted:
        raise PermissionDenied(
            CommonReason.ROLE_REQUIRED, "only services and admins apply vouchers for another buyer"
        )
    return buyer_id


# --- usages: hold, redeem, release ----------------------------------------------------------


async def _lock_checkout(session: AsyncSession, checkout_id: str) -> None:
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"usage:{checkout_id}"}
    )


def _check_checkout_id(checkout_id: str) -> None:
    if not 0 < len(checkout_id) <= MAX_CHECKOUT_ID_LENGTH:
        raise InvalidArgument.field(
            "checkout_id", f"1 to {MAX_CHECKOUT_ID_LENGTH} characters", ErrorCode.INVALID_CHECKOUT
        )


async def hold_usages(
    *,
    promotions: Promotions,
    checkout_id: str,
    buyer_id: str,
    voucher_ids: Sequence[str],
    expire_at: datetime | None,
) -> list[pb.VoucherUsage]:
    """Hold one usage of each voucher for the checkout until ``expire_at``, all or none."""
    now = promotions.clock()
    until = _checked_hold(checkout_id, buyer_id, voucher_ids, expire_at, now)
    wanted = sorted(set(voucher_ids))
    async with promotions.database.unit_of_work(SOURCE) as uow:
        repository = PromotionRepository(uow.session)
        await _lock_checkout(uow.session, checkout_id)
        existing = await repository.usages_of(checkout_id)
        if existing:
            if sorted(u.voucher_id for u in existing) != wanted or existing[0].buyer_id != buyer_id:
                raise FailedPrecondition(
                    ErrorCode.CHECKOUT_ALREADY_HELD, "this checkout already holds other vouchers"
                )
            return [usage_to_proto(usage) for usage in existing]
        locked = await repository.lock(wanted)
        missing = sorted(set(wanted) - {v.id for v in locked})
        if missing:
            raise NotFound(
                ErrorCode.VOUCHER_NOT_FOUND, f"no voucher {missing[0]}", metadata={"voucher_id": missing[0]}
            )
        counted = await repository.buyer_usages(buyer_id, wanted)
        for voucher in locked:
            why = domain.hold_refusal(voucher, at=now, buyer_usages=counted.get(voucher.id, 0))
            if why is not None:
                raise FailedPrecondition(why.reason, why.message, metadata={"voucher_id": voucher.id})
        held = [Usage(v.id, checkout_id, buyer_id, UsageState.HELD, until) for v in locked]
        await repository.add_usages(held, now)
        for voucher in locked:
            await repository.count(voucher.id, held=1)
        messages = [usage_to_proto(usage) for usage in held]
        uow.publish(events_pb2.VoucherUsagesHeld(usages=messages), subject=checkout_id)
        await uow.commit()
    crash_point("promotion.hold.committed")
    promotions.wake.set()
    return messages


def _checked_hold(
    checkout_id: str, buyer_id: str, voucher_ids: Sequence[str], expire_at: datetime | None, now: datetime
) -> datetime:
    """``expire_at``, when the hold is well formed; raise naming every field at fault otherwise."""
    _check_checkout_id(checkout_id)
    found: list[Violation] = [] if is_id(buyer_id) else [_not_an_id("buyer_id")]
    bad = ErrorCode.INVALID_CHECKOUT
    if not 1 <= len(voucher_ids) <= MAX_REQUESTED:
        found.append(Violation("voucher_ids", f"1 to {MAX_REQUESTED}", bad))
    found += [_not_an_id(f"voucher_ids[{i}]") for i, value in enumerate(voucher_ids) if not is_id(value)]
    if expire_at is None or not now < expire_at <= now + LONGEST_HOLD:
        found.append(Violation("expire_time", "must be in the next 7 days", bad))
    if found or expire_at is None:
        raise invalid(found)
    return expire_at


async def redeem_usages(*, promotions: Promotions, checkout_id: str) -> list[pb.VoucherUsage]:
    """Redeem the checkout's held usages (it was paid); redeeming again changes nothing."""
    return await _settle(promotions, checkout_id, UsageState.REDEEMED)


async def release_usages(*, promotions: Promotions, checkout_id: str) -> list[pb.VoucherUsage]:
    """Give the checkout's held usages back; releasing again, or a checkout without any, changes nothing."""
    return await _settle(promotions, checkout_id, UsageState.RELEASED)


async def _settle(promotions: Promotions, checkout_id: str, to: UsageState) -> list[pb.VoucherUsage]:
    _check_checkout_id(checkout_id)
    async with promotions.database.unit_of_work(SOURCE) as uow:
        await _lock_checkout(uow.session, checkout_id)
        found = await PromotionRepository(uow.session).usages_of(checkout_id, for_update=True)
        if to is UsageState.REDEEMED:
            if not found:
                raise NotFound(ErrorCode.NO_HOLD, f"checkout {checkout_id} holds no voucher")
            if any(usage.state is UsageState.RELEASED for usage in found):
                raise FailedPrecondition(
                    ErrorCode.USAGE_RELEASED, "the checkout's vouchers were released (expired or cancelled)"
                )
        settled = await _move_held(uow, found, to, promotions.clock())
        await uow.commit()
    return [usage_to_proto(usage) for usage in settled]


async def _move_held(uow: UnitOfWork, found: Sequence[Usage], to: UsageState, now: datetime) -> list[Usage]:
    """Move the held usages among ``found`` to ``to`` with their vouchers' counters; the usages after."""
    held = [usage for usage in found if usage.state is UsageState.HELD]
    if not held:
        return list(found)
    repository = PromotionRepository(uow.session)
    await repository.lock([usage.voucher_id for usage in held])
    for usage in held:
        await repository.count(usage.voucher_id, held=-1, redeemed=1 if to is UsageState.REDEEMED else 0)
    checkout_id = held[0].checkout_id
    await repository.set_state(checkout_id, to, now)
    after = [
        Usage(u.voucher_id, u.checkout_id, u.buyer_id, to, u.expire_at) if u.state is UsageState.HELD else u
        for u in found
    ]
    messages = [usage_to_proto(usage) for usage in after if usage.state is to]
    event = (
        events_pb2.VoucherUsagesRedeemed(usages=messages)
        if to is UsageState.REDEEMED
        else events_pb2.VoucherUsagesReleased(usages=messages)
    )
    uow.publish(event, subject=checkout_id)
    return after


async def release_lapsed(*, promotions: Promotions, batch_size: int) -> int:
    """Release the held usages whose checkout's payment expired: how many checkouts were released."""
    now = promotions.clock()
    async with promotions.database.unit_of_work(SOURCE) as uow:
        repository = PromotionRepository(uow.session)
        lapsed = await repository.lapsed_checkouts(now, batch_size)
        for checkout_id in lapsed:
            await _move_held(uow, await repository.usages_of(checkout_id), UsageState.RELEASED, now)
        await uow.commit()
    return len(lapsed)


async def seconds_until_lapse(*, promotions: Promotions) -> float | None:
    """Seconds until the earliest held usage lapses, or None without one."""
    async with promotions.database.single_reads() as session:
        due = await PromotionRepository(session).next_lapse()
    return None if due is None else max((due - promotions.clock()).total_seconds(), 0.0)
