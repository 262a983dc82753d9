"""The cart service's use cases, one transaction each.

One function per command or query, keyword-only arguments, the caller's principal among them. Every
one answers with the cart repriced now (``PricedCart``): the product service is asked after the write
commits, never while a transaction is open. A write that needs a price (adding a line, changing one,
acknowledging) asks for it before its transaction, and a SKU that does not exist or is not sold is
refused before anything is written.

Which cart a request names (``cart_ref``): ``me`` is the signed-in caller's own cart, created on first
use; any other id is a guest cart's, which whoever holds it may use. A guest cart that does not exist,
expired, or whose id is malformed is one answer, NOT_FOUND ``CART_NOT_FOUND``, so ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from google.protobuf.empty_pb2 import Empty

from toko.cart.v1 import events_pb2
from toko.platform.auth import Principal
from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database
from toko.platform.error_codes import CommonReason
from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound, Unauthenticated
from toko.platform.idempotency import idempotent
from toko.platform.ids import is_id, new_id
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.services.cart import domain
from toko.services.cart.catalog import Catalog, Quote
from toko.services.cart.domain import MAX_LINES, MAX_QUANTITY, Cart, CartFull, Line, PricedCart
from toko.services.cart.error_codes import ErrorCode
from toko.services.cart.repository import CartRepository

SOURCE = "cart"
ADD_LINE_OPERATION = "cart.AddCartLine"
ME = "me"
# A guest cart's id: 24 random bytes, URL-safe base64 (192 bits: unguessable, and safe in a path).
GUEST_ID_BYTES = 24
_GUEST_ID = re.compile(r"^[A-Za-z0-9_-]{32}$")


@dataclass(frozen=True)
class Carts:
    """What the use cases work with: the database, the product service's catalogue, a clock."""

    database: Database
    catalog: Catalog
    clock: Clock = field(default=utcnow)
    guest_ttl: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class CartRef:
    """The cart a request names: the buyer's own, or a guest cart by the id its holder presented."""

    buyer_id: str = ""
    guest_id: str = ""

    @property
    def token_hash(self) -> bytes:
        """What the database keeps of a guest cart's id: its SHA-256, never the id."""
        return hashlib.sha256(self.guest_id.encode()).digest()


def cart_ref(cart_id: str, principal: Principal) -> CartRef:
    """The cart ``cart_id`` names for ``principal``; UNAUTHENTICATED for ``me`` without a caller."""
    if cart_id == ME:
        if principal.is_anonymous:
            raise Unauthenticated(CommonReason.AUTHENTICATION_REQUIRED, "`me` is the signed-in buyer's cart")
        return CartRef(buyer_id=principal.subject)
    if not _GUEST_ID.fullmatch(cart_id):
        raise _cart_not_found()
    return CartRef(guest_id=cart_id)


# --- use cases --------------------------------------------------------------------------------------


async def create_guest_cart(*, carts: Carts) -> PricedCart:
    """Start an empty guest cart; its id is in the answer and nowhere else."""
    guest_id = secrets.token_urlsafe(GUEST_ID_BYTES)
    ref = CartRef(guest_id=guest_id)
    now = carts.clock()
    cart = Cart(id=new_id(), buyer_id="", updated_at=now, expires_at=now + carts.guest_ttl)
    async with carts.database.unit_of_work(SOURCE) as uow:
        await CartRepository(uow.session).add_guest(
            cart_id=cart.id, token_hash=ref.token_hash, now=now, expires_at=now + carts.guest_ttl
        )
        await uow.commit()
    return PricedCart(cart=cart, public_id=guest_id, lines=(), priced_at=now)


async def get_cart(*, carts: Carts, cart_id: str, principal: Principal) -> PricedCart:
    """The cart, repriced now."""
    return await _show(carts, cart_ref(cart_id, principal))


async def add_cart_line(
    *,
    carts: Carts,
    cart_id: str,
    principal: Principal,
    sku_id: str,
    quantity: int,
    note: str,
    idempotency_key: str = "",
) -> PricedCart:
    """Put ``quantity`` units of a SKU in the cart: a new line, or more of the SKU's line.

    A retry with the same ``Idempotency-Key`` (scoped to the cart) adds nothing again: it answers the
    cart as it is now.
    """
    ref = cart_ref(cart_id, principal)
    clean_note, note_problems = domain.checked_note(note, "note")
    _refuse(
        [
            *_sku_id_violations(sku_id, "sku_id"),
            *domain.quantity_violations(quantity, "quantity"),
            *note_problems,
        ]
    )
    had = await _line_quantity(carts, ref, sku_id)
    sku = (await carts.catalog.skus([sku_id])).get(sku_id)
    if sku is None:
        raise NotFound(ErrorCode.SKU_NOT_FOUND, f"no SKU {sku_id}")
    price = None
    if sku.on_sale:
        price = (await carts.catalog.quote([(sku_id, min(had + quantity, MAX_QUANTITY))])).prices.get(sku_id)
    if price is None:
        raise FailedPrecondition(ErrorCode.SKU_NOT_SOLD, f"SKU {sku_id} is not for sale")
    now = carts.clock()
    line = Line(
        sku_id=sku_id,
        shop_id=sku.shop_id,
        quantity=quantity,
        note=clean_note,
        selected=True,
        seen_price=price.unit_price,
        seen_source=price.source,
        added_at=now,
        position=0,  # the repository hands out the next one
    )
    async with carts.database.unit_of_work(SOURCE) as uow:
        repository = CartRepository(uow.session)
        internal_id = await _lock(carts, repository, ref, now)
        async with idempotent(
            uow.session,
            operation=ADD_LINE_OPERATION,
            caller=internal_id,
            key=idempotency_key,
            command=(sku_id, quantity, clean_note),
        ) as replay:
            if replay.stored is not None:
                return await _show(carts, ref)
            try:
                domain.check_room((await repository.get(internal_id)).lines, sku_id)
            except CartFull as full:
                raise _cart_full(full) from full
            if not await repository.add_line(internal_id, line):
                raise InvalidArgument.field(
                    "quantity",
                    f"the line would hold more than {MAX_QUANTITY} units",
                    ErrorCode.QUANTITY_OUT_OF_RANGE,
                )
            uow.publish(
                events_pb2.CartLineAdded(
                    cart_id=internal_id, buyer_id=ref.buyer_id, sku_id=sku_id, quantity=quantity
                ),
                subject=internal_id,
            )
            # The answer is the cart repriced now, never a stored one: remembering the add is enough.
            replay.response = Empty()
        await uow.commit()
    return await _show(carts, ref)


async def update_cart_line(
    *,
    carts: Carts,
    cart_id: str,
    principal: Principal,
    sku_id: str,
    quantity: int | None = None,
    note: str | None = None,
    selected: bool | None = None,
) -> PricedCart:
    """Set a line's quantity, note or selection; the price it shows now becomes the one it compares with."""
    ref = cart_ref(cart_id, principal)
    values: dict[str, object] = {}
    problems = _sku_id_violations(sku_id, "sku_id")
    if quantity is not None:
        problems += domain.quantity_violations(quantity, "quantity")
        values["quantity"] = quantity
    if note is not None:
        values["note"], note_problems = domain.checked_note(note, "note")
        problems += note_problems
    if selected is not None:
        values["selected"] = selected
    _refuse(problems)
    current = await _line_quantity(carts, ref, sku_id, required=True)
    quote = await _quote_one(carts.catalog, sku_id, quantity or current)
    if (price := quote.prices.get(sku_id)) is not None:
        values |= {
            "seen_unit_amount": price.unit_price.amount,
            "seen_unit_currency": price.unit_price.currency,
            "seen_price_source": price.source,
        }
    async with carts.database.unit_of_work(SOURCE) as uow:
        repository = CartRepository(uow.session)
        internal_id = await _lock(carts, repository, ref, carts.clock())
        if not await repository.update_line(internal_id, sku_id, values):
            raise _line_not_found(sku_id)
        await uow.commit()
    return await _show(carts, ref)


async def remove_cart_line(*, carts: Carts, cart_id: str, principal: Principal, sku_id: str) -> PricedCart:
    """Take a SKU out of the cart; a SKU that is not there is not an error."""
    ref = cart_ref(cart_id, principal)
    _refuse(_sku_id_violations(sku_id, "sku_id"))
    async with carts.database.unit_of_work(SOURCE) as uow:
        repository = CartRepository(uow.session)
        await repository.remove_line(await _lock(carts, repository, ref, carts.clock()), sku_id)
        await uow.commit()
    return await _show(carts, ref)


async def select_cart_lines(
    *, carts: Carts, cart_id: str, principal: Principal, selected: bool, sku_ids: Sequence[str], shop_id: str
) -> PricedCart:
    """Select or unselect the lines of some SKUs, of one shop, or every line."""
    ref = cart_ref(cart_id, principal)
    problems = [v for i, sku_id in enumerate(sku_ids) for v in _sku_id_violations(sku_id, f"sku_ids[{i}]")]
    if len(sku_ids) > MAX_LINES:
        problems.append(Violation("sku_ids", f"at most {MAX_LINES} SKUs", ErrorCode.TOO_MANY_IDS))
    if shop_id and sku_ids:
        problems.append(
            Violation("shop_id", "name SKUs or a shop, not both", ErrorCode.CONFLICTING_SELECTION)
        )
    elif shop_id and not is_id(shop_id):
        problems.append(Violation("shop_id", "must be a UUID", CommonReason.INVALID_ID))
    _refuse(problems)
    async with carts.database.unit_of_work(SOURCE) as uow:
        repository = CartRepository(uow.session)
        internal_id = await _lock(carts, repository, ref, carts.clock())
        await repository.select_lines(internal_id, selected=selected, sku_ids=sku_ids, shop_id=shop_id)
        await uow.commit()
    return await _show(carts, ref)


async def acknowledge_cart_changes(*, carts: Carts, cart_id: str, principal: Principal) -> PricedCart:
    """Record that the buyer saw the cart as priced now: each line's price now is the one it compares with."""
    ref = cart_ref(cart_id, principal)
    shown = await _show(carts, ref)
    seen = {
        priced.line.sku_id: (priced.price.unit_price, priced.price.source)
        for priced in shown.lines
        if priced.price is not None
    }
    async with carts.database.unit_of_work(SOURCE) as uow:
        repository = CartRepository(uow.session)
        await repository.set_seen_prices(await _lock(carts, repository, ref, carts.clock()), seen)
        await uow.commit()
    # The same prices, now as seen: no second round of asking the product service.
    acknowledged = tuple(
        domain.priced_line(
            replace(priced.line, seen_price=priced.price.unit_price, seen_source=priced.price.source),
            priced.sku,
            priced.price,
        )
        if priced.price is not None
        else priced
        for priced in shown.lines
    )
    return replace(shown, lines=acknowledged)


async def merge_guest_cart(*, carts: Carts, principal: Principal, guest_cart_id: str) -> PricedCart:
    """Move a guest cart's lines into the caller's cart and delete it; all of them or, when full, none.

    A guest cart that is gone (merged before, expired, never existed) leaves the buyer's cart as it is.
    """
    ref = cart_ref(ME, principal)
    if _GUEST_ID.fullmatch(guest_cart_id):
        guest = CartRef(guest_id=guest_cart_id)
        now = carts.clock()
        async with carts.database.unit_of_work(SOURCE) as uow:
            repository = CartRepository(uow.session)
            # The guest cart is locked first, the buyer's second: every merge takes them in this order.
            guest_internal = await repository.lock_guest(guest.token_hash, now=now, expires_at=now)
            if guest_internal is not None:
                buyer_internal = await repository.lock_buyer(ref.buyer_id, new_cart_id=new_id(), now=now)
                mine, theirs = await repository.get(buyer_internal), await repository.get(guest_internal)
                try:
                    merged = domain.merged_lines(mine.lines, theirs.lines)
                except CartFull as full:
                    raise _cart_full(full) from full
                await repository.replace_lines(buyer_internal, merged)
                await repository.delete(guest_internal)
                uow.publish(
                    events_pb2.GuestCartMerged(
                        cart_id=buyer_internal, buyer_id=ref.buyer_id, guest_cart_id=guest_internal
                    ),
                    subject=buyer_internal,
                )
                await uow.commit()
    return await _show(carts, ref)


async def delete_expired_carts(*, carts: Carts, limit: int) -> int:
    """Delete up to ``limit`` guest carts past their expiry, in one transaction; how many."""
    async with carts.database.unit_of_work(SOURCE) as uow:
        deleted = await CartRepository(uow.session).delete_expired(carts.clock(), limit)
        await uow.commit()
    return deleted


async def seconds_until_next_expiry(*, carts: Carts) -> float | None:
    """Seconds until the next guest cart expires, or None without guest carts."""
    async with carts.database.single_reads() as session:
        due = await CartRepository(session).next_expiry()
    return None if due is None else max((due - carts.clock()).total_seconds(), 0.0)


# --- helpers ----------------------------------------------------------------------------------------


async def _show(carts: Carts, ref: CartRef) -> PricedCart:
    """The cart ``ref`` names, repriced now; the buyer's is created on first use."""
    now = carts.clock()
    async with carts.database.sessions() as session:
        repository = CartRepository(session)
        internal_id = await _find(repository, ref, now)
        cart = None if internal_id is None else await repository.get(internal_id)
    if cart is None:
        async with carts.database.unit_of_work(SOURCE) as uow:
            repository = CartRepository(uow.session)
            cart = await repository.get(await _lock(carts, repository, ref, now))
            await uow.commit()
    return await _priced(carts.catalog, cart, ref.guest_id or cart.id, now)


async def _priced(catalog: Catalog, cart: Cart, public_id: str, now: datetime) -> PricedCart:
    """Reprice every line: one look at the SKUs, one quote of every line on sale."""
    if not cart.lines:
        return PricedCart(cart=cart, public_id=public_id, lines=(), priced_at=now)
    skus = await catalog.skus([line.sku_id for line in cart.lines])
    on_sale = [
        (line.sku_id, line.quantity)
        for line in cart.lines
        if (sku := skus.get(line.sku_id)) is not None and sku.on_sale
    ]
    quote = await catalog.quote(on_sale) if on_sale else Quote()
    return PricedCart(
        cart=cart,
        public_id=public_id,
        lines=tuple(
            domain.priced_line(line, skus.get(line.sku_id), quote.prices.get(line.sku_id))
            for line in cart.lines
        ),
        priced_at=quote.priced_at or now,
        price_expires_at=quote.expires_at,
    )


async def _find(repository: CartRepository, ref: CartRef, now: datetime) -> str | None:
    if ref.buyer_id:
        return await repository.buyer_cart_id(ref.buyer_id)
    return await repository.guest_cart_id(ref.token_hash, now)


async def _lock(carts: Carts, repository: CartRepository, ref: CartRef, now: datetime) -> str:
    """Lock the cart for a change (creating the buyer's on first use); NOT_FOUND for a guest cart gone."""
    if ref.buyer_id:
        return await repository.lock_buyer(ref.buyer_id, new_cart_id=new_id(), now=now)
    found = await repository.lock_guest(ref.token_hash, now=now, expires_at=now + carts.guest_ttl)
    if found is None:
        raise _cart_not_found()
    return found


async def _line_quantity(carts: Carts, ref: CartRef, sku_id: str, *, required: bool = False) -> int:
    """The SKU's quantity in the cart now (0 without a line); NOT_FOUND for a guest cart gone."""
    async with carts.database.sessions() as session:
        repository = CartRepository(session)
        internal_id = await _find(repository, ref, carts.clock())
        if internal_id is None and ref.guest_id:
            raise _cart_not_found()
        lines = () if internal_id is None else (await repository.get(internal_id)).lines
    quantity = next((line.quantity for line in lines if line.sku_id == sku_id), 0)
    if required and not quantity:
        raise _line_not_found(sku_id)
    return quantity


async def _quote_one(catalog: Catalog, sku_id: str, quantity: int) -> Quote:
    sku = (await catalog.skus([sku_id])).get(sku_id)
    return await catalog.quote([(sku_id, quantity)]) if sku is not None and sku.on_sale else Quote()


def _sku_id_violations(sku_id: str, path: str) -> list[Violation]:
    return [] if is_id(sku_id) else [Violation(path, "must be a UUID", CommonReason.INVALID_ID)]


def _refuse(problems: Sequence[Violation]) -> None:
    if problems:
        raise invalid(problems)


def _cart_not_found() -> NotFound:
    return NotFound(ErrorCode.CART_NOT_FOUND, "no such cart, or it expired")


def _line_not_found(sku_id: str) -> NotFound:
    return NotFound(ErrorCode.LINE_NOT_FOUND, f"the cart has no line of SKU {sku_id}")


def _cart_full(full: CartFull) -> FailedPrecondition:
    return FailedPrecondition(ErrorCode.CART_FULL, str(full))
