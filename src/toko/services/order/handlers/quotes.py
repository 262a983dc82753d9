"""Pricing a checkout: what QuoteCheckout answers, and what PlaceCheckout compares the quote with.

A quote is priced from the services that own each figure, nothing of it from the client: unit prices
from product's QuotePrices, the delivery address from the buyer's own address book (the buyer's
token, relayed), each shop's shipping from the rate shipping quoted, discounts from promotion's
ApplyVouchers (apportioned to lines and shipping there), and PPN included in every price. Nothing is
held: PlaceCheckout holds vouchers and stock when the buyer agrees.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from toko.order.v1 import order_pb2 as pb
from toko.payment.v1 import payment_pb2
from toko.platform.auth import Principal
from toko.platform.error_codes import CommonReason
from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from toko.platform.ids import is_id, new_id
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.product.v1 import pricing_pb2 as pricing
from toko.product.v1 import product_pb2 as products
from toko.promotion.v1 import promotion_pb2 as promotion
from toko.services.order import domain
from toko.services.order.clients import call
from toko.services.order.error_codes import ErrorCode
from toko.services.order.handlers import from_cart
from toko.services.order.handlers.common import SOURCE, Orders
from toko.services.order.mapping import address_document, document, from_document, money, timestamp
from toko.services.order.repository import checkouts as checkouts_store
from toko.services.order.repository import orders as orders_store
from toko.shipping.v1 import shipping_pb2 as shipping
from toko.user.v1 import user_pb2 as users

PRICE_SOURCES = {
    pricing.PRICE_SOURCE_BASE: "base",
    pricing.PRICE_SOURCE_SCHEDULE: "schedule",
    pricing.PRICE_SOURCE_CAMPAIGN: "campaign",
    pricing.PRICE_SOURCE_TIER: "tier",
    pricing.PRICE_SOURCE_DYNAMIC: "dynamic",
}


@dataclass(frozen=True)
class Priced:
    """A checkout priced now: the quote (without an id yet), the address it goes to, the request with
    what it left out filled in (the cart's lines, each shop's rate), and the rates it chose among."""

    quote: pb.CheckoutQuote
    address: dict[str, Any]
    request: pb.QuoteCheckoutRequest
    shipping_options: list[pb.ShopShippingOptions]


async def quote_checkout(
    *, orders: Orders, request: pb.QuoteCheckoutRequest, principal: Principal, authorization: str
) -> Priced:
    """Price a checkout for the caller and keep the quote under a new id until it expires."""
    priced = await price_checkout(
        orders=orders, request=request, buyer_id=principal.subject, authorization=authorization
    )
    quote = priced.quote
    quote.id = new_id()
    async with orders.database.unit_of_work(SOURCE) as uow:
        await checkouts_store.add_quote(
            uow.session,
            quote_id=quote.id,
            buyer_id=principal.subject,
            # Filled in: placing it prices the lines and rates the buyer saw, not the cart as it is then.
            request=document(priced.request),
            quote=document(quote),
            address=priced.address,
            created_at=orders.clock(),
            expires_at=quote.expire_time.ToDatetime().replace(tzinfo=orders.clock().tzinfo),
        )
        await uow.commit()
    return priced


def checked_request(request: pb.QuoteCheckoutRequest) -> None:
    """INVALID_ARGUMENT naming every field at fault, before anything is asked of another service."""
    # No lines: the cart's (from_cart), checked once read.
    violations = (
        domain.line_violations(
            ((line.sku_id, line.quantity, line.note) for line in request.lines), id_ok=is_id
        )
        if request.lines or not request.cart_id
        else []
    )
    violations += [
        Violation(f"lines[{index}].flash_sale_claim_id", "must be a claim id", CommonReason.INVALID_ID)
        for index, line in enumerate(request.lines)
        if line.flash_sale_claim_id and not is_id(line.flash_sale_claim_id)
    ]
    if not is_id(request.address_id):
        violations.append(
            Violation("address_id", "must be one of your addresses' ids", CommonReason.INVALID_ID)
        )
    shops_chosen: set[str] = set()
    for index, choice in enumerate(request.shipping):
        if not is_id(choice.shop_id):
            violations.append(
                Violation(f"shipping[{index}].shop_id", "must be a shop id", CommonReason.INVALID_ID)
            )
        elif choice.shop_id in shops_chosen:
            violations.append(
                Violation(
                    f"shipping[{index}].shop_id",
                    "has two shipping choices",
                    ErrorCode.SHIPPING_OPTION_INVALID,
                )
            )
        shops_chosen.add(choice.shop_id)
        if choice.rate_id and not is_id(choice.rate_id):
            violations.append(
                Violation(f"shipping[{index}].rate_id", "must be a quoted rate's id", CommonReason.INVALID_ID)
            )
        elif not choice.rate_id and not (0 < len(choice.courier) <= 32 and 0 < len(choice.service) <= 32):
            violations.append(
                Violation(
                    f"shipping[{index}]",
                    "name a quoted rate (rate_id) or a courier and its service",
                    ErrorCode.SHIPPING_OPTION_INVALID,
                )
            )
        if len(choice.slot_id) > 100:
            violations.append(
                Violation(f"shipping[{index}].slot_id", "is too long", ErrorCode.SHIPPING_OPTION_INVALID)
            )
    if len(request.vouchers) > domain.MAX_VOUCHERS:
        violations.append(
            Violation("vouchers", f"at most {domain.MAX_VOUCHERS}", ErrorCode.TOO_MANY_VOUCHERS)
        )
    violations += [
        Violation(f"vouchers[{index}]", "must be 1 to 64 characters", ErrorCode.TOO_MANY_VOUCHERS)
        for index, voucher in enumerate(request.vouchers)
        if not 1 <= len(voucher.strip()) <= 64
    ]
    # No method yet is a preview (a cart page's totals before the buyer picks how to pay): it is
    # priced, and refused when placed.
    if request.payment_method not in payment_pb2.PaymentMethod.values():
        violations.append(
            Violation("payment_method", "is not a payment method", ErrorCode.PAYMENT_METHOD_REQUIRED)
        )
    if len(request.cart_id) > 64:
        violations.append(Violation("cart_id", "is too long", CommonReason.INVALID_ID))
    if len(request.flash_sale_claims) > domain.MAX_LINES:
        violations.append(
            Violation(
                "flash_sale_claims", f"at most {domain.MAX_LINES}", ErrorCode.FLASH_SALE_CLAIM_NOT_APPLICABLE
            )
        )
    violations += [
        Violation(f"flash_sale_claims[{sku_id!r}]", "must be a claim id", CommonReason.INVALID_ID)
        for sku_id, claim_id in sorted(request.flash_sale_claims.items())
        if not is_id(claim_id)
    ]
    if violations:
        raise invalid(violations)


async def price_checkout(
    *, orders: Orders, request: pb.QuoteCheckoutRequest, buyer_id: str, authorization: str
) -> Priced:
    """The checkout's figures now, asked of the services that own them."""
    checked_request(request)
    peers, now = orders.peers, orders.clock()
    # The address does not depend on the cart, nor prices and titles on the address: asked at once.
    asked_address = asyncio.ensure_future(_address(orders, buyer_id, request.address_id, authorization))
    if not request.lines:
        try:
            filled = pb.QuoteCheckoutRequest()
            filled.CopyFrom(request)
            filled.lines.extend(await from_cart.cart_lines(orders, request, authorization))
            checked_request(filled)
        except BaseException:
            asked_address.cancel()
            raise
        request = filled
    sku_ids = [line.sku_id for line in request.lines]
    prices, views, address = await asyncio.gather(
        call(
            "pricing",
            peers.products.QuotePrices(
                pricing.QuotePricesRequest(
                    # No claim, no campaign price: a line without one is priced as if no campaign ran.
                    lines=[
                        pricing.QuoteLine(
                            sku_id=line.sku_id,
                            quantity=line.quantity,
                            without_campaign=not line.flash_sale_claim_id,
                        )
                        for line in request.lines
                    ],
                    buyer_id=buyer_id,
                ),
                timeout=peers.timeout,
            ),
        ),
        call(
            "the catalogue",
            peers.products.BatchGetSkus(products.BatchGetSkusRequest(ids=sku_ids), timeout=peers.timeout),
        ),
        asked_address,
    )
    titles = {view.sku.id: view.product_title for view in views.skus}
    quoted = {line.sku_id: line for line in prices.lines}
    shops: dict[str, list[pb.PricedLine]] = defaultdict(list)
    for line in request.lines:
        priced = quoted.get(line.sku_id)
        if priced is None:
            raise NotFound(ErrorCode.SKU_NOT_FOR_SALE, f"SKU {line.sku_id} is not for sale")
        if line.flash_sale_claim_id and priced.source != pricing.PRICE_SOURCE_CAMPAIGN:
            raise FailedPrecondition(
                ErrorCode.FLASH_SALE_CLAIM_NOT_APPLICABLE,
                f"no flash sale prices SKU {line.sku_id} now for {line.quantity} unit(s): "
                "check out the line without its claim",
                metadata={"sku_id": line.sku_id},
            )
        shops[priced.shop_id].append(
            pb.PricedLine(
                sku_id=line.sku_id,
                product_id=priced.product_id,
                product_title=titles.get(line.sku_id, ""),
                shop_id=priced.shop_id,
                quantity=line.quantity,
                note=line.note.strip(),
                unit_price=money(priced.unit_price.amount),
                price_source=PRICE_SOURCES.get(priced.source, "base"),
                subtotal=money(priced.line_total.amount),
                flash_sale_claim_id=line.flash_sale_claim_id,
            )
        )
    options: dict[str, list[shipping.ShippingRate]] = {}
    if set(shops) - {choice.shop_id for choice in request.shipping if choice.rate_id}:
        options = await from_cart.shipping_options(
            orders,
            request=request,
            parcels=shops,
            views={view.sku.id: view for view in views.skus},
            address=address,
        )
        filled = pb.QuoteCheckoutRequest()
        filled.CopyFrom(request)
        del filled.shipping[:]
        filled.shipping.extend(from_cart.choose(request, options))
        request = filled
    rates, expiry = await _rates(orders, request, shops.keys(), address, options)
    if request.payment_method == payment_pb2.PAYMENT_METHOD_COD:
        _check_cash_on_delivery(rates)
    applied = await call(
        "vouchers",
        peers.promotions.ApplyVouchers(
            promotion.ApplyVouchersRequest(
                buyer_id=buyer_id,
                lines=[
                    promotion.CheckoutLine(
                        sku_id=line.sku_id, shop_id=shop_id, quantity=line.quantity, line_total=line.subtotal
                    )
                    for shop_id, lines in shops.items()
                    for line in lines
                ],
                shipping=[
                    promotion.ShopShipping(shop_id=shop, fee=rate.price) for shop, rate in rates.items()
                ],
                vouchers=[voucher.strip() for voucher in request.vouchers],
                # A voucher for some methods only is refused until the buyer picks one of them.
                payment_method=payment_pb2.PaymentMethod.Name(request.payment_method)
                if request.payment_method
                else "",
                first_order=await _first_order(orders, buyer_id),
                at=timestamp(now),
            ),
            metadata=await peers.as_service(),
            timeout=peers.timeout,
        ),
    )
    quote = _assemble(orders, request=request, shops=shops, rates=rates, applied=applied, buyer_id=buyer_id)
    quote.expire_time.CopyFrom(
        timestamp(
            min(
                now + timedelta(seconds=orders.settings.quote_ttl_seconds),
                prices.expire_time.ToDatetime().replace(tzinfo=now.tzinfo)
                if prices.HasField("expire_time")
                else now + timedelta(days=1),
                expiry,
            )
        )
    )
    return Priced(
        quote=quote,
        address=address,
        request=request,
        shipping_options=[
            pb.ShopShippingOptions(shop_id=shop_id, rates=rates) for shop_id, rates in sorted(options.items())
        ],
    )


def _assemble(
    orders: Orders,
    *,
    request: pb.QuoteCheckoutRequest,
    shops: dict[str, list[pb.PricedLine]],
    rates: dict[str, shipping.ShippingRate],
    applied: promotion.ApplyVouchersResponse,
    buyer_id: str,
) -> pb.CheckoutQuote:
    line_discount: dict[str, int] = defaultdict(int)
    shipping_discount: dict[str, int] = defaultdict(int)
    for voucher in applied.applied:
        for on_line in voucher.line_discounts:
            line_discount[on_line.sku_id] += on_line.amount.amount
        for on_shipping in voucher.shipping_discounts:
            shipping_discount[on_shipping.shop_id] += on_shipping.amount.amount
    choices = {choice.shop_id: choice for choice in request.shipping}
    shop_quotes, figures = [], []
    for shop_id, lines in shops.items():
        for line in lines:
            discount = min(line_discount[line.sku_id], line.subtotal.amount)
            line.discount.CopyFrom(money(discount))
            line.total.CopyFrom(money(line.subtotal.amount - discount))
        rate = rates[shop_id]
        shop = domain.ShopFigures(
            items_subtotal=sum(line.subtotal.amount for line in lines),
            items_discount=sum(line.discount.amount for line in lines),
            shipping_fee=rate.price.amount,
            shipping_discount=min(shipping_discount[shop_id], rate.price.amount),
        )
        figures.append(shop)
        shop_quotes.append(
            pb.ShopQuote(
                shop_id=shop_id,
                lines=lines,
                courier=rate.courier,
                courier_service=rate.service,
                rate_id=rate.id,
                slot_id=choices[shop_id].slot_id,
                items_subtotal=money(shop.items_subtotal),
                items_discount=money(shop.items_discount),
                shipping_fee=money(shop.shipping_fee),
                shipping_discount=money(shop.shipping_discount),
                total=money(shop.total),
                tax_included=money(domain.tax_included(shop.total)),
            )
        )
    total = domain.CheckoutFigures(shops=tuple(figures), service_fee=orders.settings.service_fee)
    return pb.CheckoutQuote(
        buyer_id=buyer_id,
        shops=shop_quotes,
        discounts=[
            pb.AppliedDiscount(
                voucher_id=voucher.voucher.id,
                code=voucher.voucher.code,
                shop_id=voucher.voucher.shop_id,
                amount=voucher.discount,
            )
            for voucher in applied.applied
        ],
        refused_vouchers=[f"{refused.requested}: {refused.reason}" for refused in applied.refused],
        items_subtotal=money(total.items_subtotal),
        discount_total=money(total.discount_total),
        shipping_total=money(total.shipping_total),
        service_fee=money(total.service_fee),
        grand_total=money(total.grand_total),
        tax_included=money(domain.tax_included(total.grand_total)),
        payment_method=request.payment_method,
        address_id=request.address_id,
    )


async def _address(orders: Orders, buyer_id: str, address_id: str, authorization: str) -> dict[str, Any]:
    """The buyer's address, read with the buyer's own token: another's is not found."""
    try:
        found = await call(
            "the address book",
            orders.peers.users.GetAddress(
                users.GetAddressRequest(user_id=buyer_id, address_id=address_id),
                metadata=(("authorization", authorization),) if authorization else (),
                timeout=orders.peers.timeout,
            ),
        )
    except (NotFound, InvalidArgument) as exc:
        raise NotFound(ErrorCode.ADDRESS_NOT_FOUND, f"you have no address {address_id}") from exc
    return address_document(found.address)


async def _rates(
    orders: Orders,
    request: pb.QuoteCheckoutRequest,
    shop_ids: Any,
    address: dict[str, Any],
    quoted: Mapping[str, list[shipping.ShippingRate]],
) -> tuple[dict[str, shipping.ShippingRate], datetime]:
    """Each shop's chosen rate, checked to serve the address; and when the first of them expires.

    A rate this checkout ``quoted`` itself (from the shop's city to this address) is taken as it is,
    not asked for again.
    """
    wanted = sorted(set(shop_ids))
    chosen = {choice.shop_id: choice for choice in request.shipping}
    violations = [
        Violation("shipping", f"choose how shop {shop_id} ships", ErrorCode.SHIPPING_CHOICE_MISSING)
        for shop_id in sorted(set(wanted) - chosen.keys())
    ]
    violations += [
        Violation(
            "shipping", f"shop {shop_id} has no line in this checkout", ErrorCode.SHIPPING_CHOICE_UNUSED
        )
        for shop_id in sorted(chosen.keys() - set(wanted))
    ]
    if violations:
        raise invalid(violations)
    found = await asyncio.gather(
        *(_rate(orders, shop_id, chosen[shop_id], address, quoted.get(shop_id, [])) for shop_id in wanted)
    )
    rates = dict(zip(wanted, found, strict=True))
    expiry = orders.clock() + timedelta(days=1)
    for rate in found:
        if rate.HasField("expire_time"):
            expiry = min(expiry, rate.expire_time.ToDatetime().replace(tzinfo=expiry.tzinfo))
    return rates, expiry


async def _rate(
    orders: Orders,
    shop_id: str,
    choice: pb.ShopShippingChoice,
    address: dict[str, Any],
    quoted: list[shipping.ShippingRate],
) -> shipping.ShippingRate:
    """The shop's chosen rate, checked to go from the shop's city to the address."""
    peers = orders.peers
    own = next((rate for rate in quoted if rate.id == choice.rate_id), None)
    if own is not None:
        return await _checked_slot(orders, shop_id, choice, own)
    try:
        found, shop = await asyncio.gather(
            call(
                "shipping",
                peers.shipping.GetShippingRate(
                    shipping.GetShippingRateRequest(rate_id=choice.rate_id), timeout=peers.timeout
                ),
            ),
            call("shops", peers.users.GetShop(users.GetShopRequest(shop_id=shop_id), timeout=peers.timeout)),
        )
    except (NotFound, FailedPrecondition, InvalidArgument) as exc:
        raise _bad_option(
            shop_id, "the shipping rate expired or does not exist; quote shipping again"
        ) from exc
    rate: shipping.ShippingRate = found.rate
    if _norm(rate.origin.city) != _norm(shop.shop.origin_city):
        raise _bad_option(
            shop_id, f"the shipping rate was not quoted from the shop's city ({shop.shop.origin_city})"
        )
    if _norm(rate.destination.city) != _norm(str(address.get("city", ""))):
        raise _bad_option(shop_id, "the shipping rate was quoted for another destination")
    return await _checked_slot(orders, shop_id, choice, rate)


async def _checked_slot(
    orders: Orders, shop_id: str, choice: pb.ShopShippingChoice, rate: shipping.ShippingRate
) -> shipping.ShippingRate:
    """The rate, once a slotted service's chosen slot is checked."""
    if rate.slotted and not choice.slot_id:
        raise _bad_option(shop_id, f"{rate.service_name or rate.service} needs a delivery slot")
    if rate.slotted:
        await _check_slot(orders, shop_id, choice.slot_id, rate)
    return rate


async def _check_slot(orders: Orders, shop_id: str, slot_id: str, rate: shipping.ShippingRate) -> None:
    """The chosen slot is the rate's service's, from the shop's city, still ahead, with a place left."""
    peers = orders.peers
    try:
        found = await call(
            "shipping",
            peers.shipping.GetDeliverySlot(
                shipping.GetDeliverySlotRequest(id=slot_id), timeout=peers.timeout
            ),
        )
    except (NotFound, InvalidArgument, FailedPrecondition) as exc:
        raise _bad_slot(
            ErrorCode.DELIVERY_SLOT_INVALID, shop_id, "no such delivery slot: list the slots again"
        ) from exc
    if (found.courier, found.service, _norm(found.city)) != (
        rate.courier,
        rate.service,
        _norm(rate.origin.city),
    ):
        raise _bad_slot(ErrorCode.DELIVERY_SLOT_INVALID, shop_id, "the slot is another service's or city's")
    if found.slot.start_time.ToDatetime(tzinfo=UTC) <= orders.clock():
        raise _bad_slot(ErrorCode.DELIVERY_SLOT_INVALID, shop_id, "the slot has begun: choose a later one")
    if found.slot.capacity_left <= 0:
        raise _bad_slot(ErrorCode.DELIVERY_SLOT_FULL, shop_id, "the delivery slot is full: choose another")


def _bad_slot(reason: ErrorCode, shop_id: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(reason, message, metadata={"shop_id": shop_id})


def _check_cash_on_delivery(rates: dict[str, shipping.ShippingRate]) -> None:
    """Cash on delivery: one courier collects one payment: one shop's parcel, by a service that collects."""
    if len(rates) > 1:
        raise FailedPrecondition(
            ErrorCode.COD_ONE_SHOP_ONLY,
            "cash on delivery pays one shop's parcel at a time: check the shops out one by one",
        )
    for shop_id, rate in rates.items():
        if not rate.cod_available:
            raise FailedPrecondition(
                ErrorCode.COD_NOT_AVAILABLE,
                f"{rate.service_name or rate.service} does not collect cash on delivery here",
                metadata={"shop_id": shop_id},
            )


def _bad_option(shop_id: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(ErrorCode.SHIPPING_OPTION_INVALID, message, metadata={"shop_id": shop_id})


def _norm(city: str) -> str:
    # "Kota Bandung" and "Bandung" are one city to a courier's tariff.
    words = city.casefold().split()
    return " ".join(word for word in words if word not in {"kota", "kabupaten", "kab."})


async def _first_order(orders: Orders, buyer_id: str) -> bool:
    """Whether the buyer has never had an order (a new-buyer voucher's condition)."""
    async with orders.database.sessions() as session:
        return not await orders_store.list_orders(session, buyer_id=buyer_id, limit=1)


def figures_of(quote: pb.CheckoutQuote) -> dict[str, Any]:
    """What a buyer agreed to in a quote, to compare with the same checkout priced again."""
    return {
        "shops": {
            shop.shop_id: {
                "lines": {
                    line.sku_id: (line.quantity, line.unit_price.amount, line.discount.amount)
                    for line in shop.lines
                },
                "shipping": (shop.rate_id, shop.shipping_fee.amount, shop.shipping_discount.amount),
                "total": shop.total.amount,
            }
            for shop in quote.shops
        },
        "vouchers": sorted((d.voucher_id, d.amount.amount) for d in quote.discounts),
        "service_fee": quote.service_fee.amount,
        "grand_total": quote.grand_total.amount,
    }


def changes_between(old: pb.CheckoutQuote, new: pb.CheckoutQuote) -> list[str]:
    """Each figure that differs, as a person reads it: "sku X: unit price 10000 → 12000"."""
    before, after = figures_of(old), figures_of(new)
    changes: list[str] = []
    for shop_id in sorted(set(before["shops"]) | set(after["shops"])):
        was, now = before["shops"].get(shop_id), after["shops"].get(shop_id)
        if was is None or now is None:
            changes.append(f"shop {shop_id}: {'added' if was is None else 'gone'}")
            continue
        for sku_id in sorted(set(was["lines"]) | set(now["lines"])):
            a, b = was["lines"].get(sku_id), now["lines"].get(sku_id)
            if a != b:
                changes.append(f"sku {sku_id}: (quantity, unit price, discount) {a} → {b}")
        if was["shipping"] != now["shipping"]:
            changes.append(
                f"shop {shop_id}: shipping (rate, fee, discount) {was['shipping']} → {now['shipping']}"
            )
    if before["vouchers"] != after["vouchers"]:
        changes.append(f"vouchers {before['vouchers']} → {after['vouchers']}")
    if before["service_fee"] != after["service_fee"]:
        changes.append(f"service fee {before['service_fee']} → {after['service_fee']}")
    return changes


def stored_request(doc: dict[str, Any]) -> pb.QuoteCheckoutRequest:
    """The request a stored quote was priced from."""
    return from_document(doc, pb.QuoteCheckoutRequest())
