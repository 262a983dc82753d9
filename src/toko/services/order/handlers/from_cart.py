"""What a quote request may leave out, filled in: the lines from the buyer's cart, each shop's shipping.

A storefront's cart page asks for "my cart, to this address": ``QuoteCheckout`` with ``cart_id`` "me",
no lines and no shipping. The lines are the cart's selected lines that can be bought now (read with the
buyer's own token, relayed: only its owner may read a cart), each with the buyer's flash-sale claim of
exactly its units when one is held (the cart shows the campaign's price; the claim is what buys at it),
and a shop with no shipping chosen by
rate id has its parcel quoted here, from the shop's city to the address, and gets the courier service
the buyer named, or else the cheapest one without delivery slots. The request filled in is what the
quote keeps, so PlaceCheckout prices exactly the lines and rates the buyer saw (ADR 19).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from toko.cart.v1 import cart_pb2 as carts
from toko.inventory.v1 import inventory_pb2 as inventory
from toko.order.v1 import order_pb2 as pb
from toko.payment.v1 import payment_pb2
from toko.platform.errors import FailedPrecondition, InvalidArgument, NotFound
from toko.platform.rules import Violation
from toko.platform.validation import invalid
from toko.product.v1 import product_pb2 as products
from toko.services.order.clients import call
from toko.services.order.error_codes import ErrorCode
from toko.services.order.handlers.common import Orders
from toko.shipping.v1 import shipping_pb2 as shipping
from toko.user.v1 import user_pb2 as users

# The only cart a buyer checks out is their own.
OWN_CART = "me"


async def cart_lines(
    orders: Orders, request: pb.QuoteCheckoutRequest, authorization: str
) -> list[pb.CheckoutLine]:
    """The cart's selected lines that can be bought now, with the buyer's claims; refused when none."""
    if request.cart_id != OWN_CART:
        raise InvalidArgument.field(
            "cart_id", 'must be "me" to check out your cart (or give the lines)', ErrorCode.CART_NOT_FOUND
        )
    peers = orders.peers
    as_buyer = (("authorization", authorization),) if authorization else ()
    try:
        found, held = await asyncio.gather(
            call(
                "the cart",
                peers.carts.GetCart(
                    carts.GetCartRequest(cart_id=OWN_CART), metadata=as_buyer, timeout=peers.timeout
                ),
            ),
            # The buyer's claims are asked for only when none are named.
            call(
                "flash sales",
                peers.inventory.ListFlashSaleClaims(
                    inventory.ListFlashSaleClaimsRequest(), metadata=as_buyer, timeout=peers.timeout
                ),
            )
            if not request.flash_sale_claims
            else _no_claims(),
        )
    except NotFound as exc:
        raise FailedPrecondition(ErrorCode.NOTHING_TO_CHECK_OUT, "your cart is empty") from exc
    named = dict(request.flash_sale_claims)
    lines = [
        pb.CheckoutLine(
            sku_id=line.sku_id,
            quantity=line.quantity,
            note=line.note,
            flash_sale_claim_id=named.get(line.sku_id) or _claim_for(held.claims, line.sku_id, line.quantity),
        )
        for shop in found.cart.shops
        for line in shop.lines
        if line.selected and line.purchasable
    ]
    if not lines:
        raise FailedPrecondition(
            ErrorCode.NOTHING_TO_CHECK_OUT, "no line of your cart is selected and can be bought now"
        )
    return lines


async def _no_claims() -> inventory.ListFlashSaleClaimsResponse:
    return inventory.ListFlashSaleClaimsResponse()


def _claim_for(claims: Iterable[inventory.FlashSaleClaim], sku_id: str, quantity: int) -> str:
    """The buyer's held claim of exactly the line's units (a claim buys exactly its units), first to
    lapse first; none, and the line is priced without its campaign."""
    return next((c.id for c in claims if (c.sku_id, c.quantity) == (sku_id, quantity)), "")


async def shipping_options(
    orders: Orders,
    *,
    request: pb.QuoteCheckoutRequest,
    parcels: Mapping[str, list[pb.PricedLine]],
    views: Mapping[str, products.SkuView],
    address: Mapping[str, Any],
) -> dict[str, list[shipping.ShippingRate]]:
    """Every service that can carry each shop's parcel to the address, for the shops with no rate chosen."""
    chosen = {choice.shop_id for choice in request.shipping if choice.rate_id}
    unquoted = sorted(shop_id for shop_id in parcels if shop_id not in chosen)
    destination = shipping.Place(
        province=str(address.get("province", "")),
        city=str(address.get("city", "")),
        district=str(address.get("district", "")),
        postal_code=str(address.get("postal_code", "")),
    )
    cod = request.payment_method == payment_pb2.PAYMENT_METHOD_COD
    found = await asyncio.gather(
        *(_quote(orders, shop_id, parcels[shop_id], views, destination, cod=cod) for shop_id in unquoted)
    )
    return dict(zip(unquoted, found, strict=True))


async def _quote(
    orders: Orders,
    shop_id: str,
    lines: list[pb.PricedLine],
    views: Mapping[str, products.SkuView],
    destination: shipping.Place,
    *,
    cod: bool,
) -> list[shipping.ShippingRate]:
    peers = orders.peers
    shop = await call(
        "shops", peers.users.GetShop(users.GetShopRequest(shop_id=shop_id), timeout=peers.timeout)
    )
    items = []
    for line in lines:
        view = views.get(line.sku_id, products.SkuView())
        items.append(
            shipping.ParcelItem(
                # A SKU whose product has no weight is shipped as the couriers' minimum, one kilogram.
                weight_grams=view.weight_grams or 1_000,
                # The couriers charge a bulky parcel by its volume.
                length_mm=view.dimensions.length_mm,
                width_mm=view.dimensions.width_mm,
                height_mm=view.dimensions.height_mm,
                quantity=line.quantity,
                unit_value=line.unit_price,
            )
        )
    try:
        quoted = await call(
            "shipping",
            peers.shipping.QuoteShippingRates(
                shipping.QuoteShippingRatesRequest(
                    origin=shipping.Place(city=shop.shop.origin_city),
                    destination=destination,
                    items=items,
                    cod=cod,
                ),
                timeout=peers.timeout,
            ),
        )
    except (InvalidArgument, FailedPrecondition) as exc:
        # The address or the parcel is one no courier can take (a district unknown to them, too heavy).
        raise _no_service(shop_id, f"no courier can take this shop's parcel to the address: {exc}") from exc
    return list(quoted.rates)


def choose(
    request: pb.QuoteCheckoutRequest, options: Mapping[str, list[shipping.ShippingRate]]
) -> list[pb.ShopShippingChoice]:
    """The request's shipping, each shop's quoted here given the rate the buyer named or the default."""
    named = {choice.shop_id: choice for choice in request.shipping}
    choices = [choice for choice in request.shipping if choice.rate_id]
    unused = sorted(shop_id for shop_id, c in named.items() if not c.rate_id and shop_id not in options)
    if unused:
        raise invalid(
            [
                Violation(
                    "shipping",
                    f"shop {shop_id} has no line in this checkout",
                    ErrorCode.SHIPPING_CHOICE_UNUSED,
                )
                for shop_id in unused
            ]
        )
    for shop_id, rates in options.items():
        wanted = named.get(shop_id)
        if wanted is not None and (wanted.courier or wanted.service):
            rate = next(
                (
                    r
                    for r in rates
                    if (r.courier.casefold(), r.service.casefold())
                    == (wanted.courier.casefold(), wanted.service.casefold())
                ),
                None,
            )
            if rate is None:
                offered = ", ".join(f"{r.courier}/{r.service}" for r in rates) or "none"
                raise FailedPrecondition(
                    ErrorCode.SHIPPING_OPTION_INVALID,
                    f"{wanted.courier}/{wanted.service} does not carry this shop's parcel to the address "
                    f"(offered: {offered})",
                    metadata={"shop_id": shop_id},
                )
        else:
            # Rates come cheapest first; a slotted service needs the buyer to pick a slot.
            rate = next((r for r in rates if not r.slotted), None)
            if rate is None:
                raise _no_service(
                    shop_id,
                    "no courier service without a delivery slot carries this shop's parcel to the address"
                    + (": choose a slotted one and its slot" if rates else ""),
                )
        choices.append(
            pb.ShopShippingChoice(
                shop_id=shop_id, rate_id=rate.id, slot_id=wanted.slot_id if wanted is not None else ""
            )
        )
    return choices


def _no_service(shop_id: str, message: str) -> FailedPrecondition:
    return FailedPrecondition(ErrorCode.NO_SHIPPING_SERVICE, message, metadata={"shop_id": shop_id})
