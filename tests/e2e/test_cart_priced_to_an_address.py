"""A buyer's cart priced to one of their addresses, as a cart page asks for it: ``checkout:quote`` with
``"cartId": "me"`` and nothing else but the address and how to pay (without it, a preview that cannot
be placed). Each shop's parcel is quoted by the
checkout itself, every total is there, another courier service can be picked by its codes, and placing
the quote checks out exactly those lines; bad asks are clear 4xx."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from test_checkout_rules import VA, Shopper, _place, _problem, _stocked_skus, _until

if TYPE_CHECKING:
    from conftest import Platform


def _empty_cart(buyer: Shopper) -> None:
    for shop in buyer.client.get("/v1/carts/me").json()["cart"].get("shops", []):
        for line in shop["lines"]:
            assert buyer.client.delete(f"/v1/carts/me/lines/{line['skuId']}").status_code == 200


def _add(buyer: Shopper, sku_id: str, quantity: int) -> None:
    added = buyer.client.post("/v1/carts/me/lines", json={"skuId": sku_id, "quantity": quantity})
    assert added.status_code == 200, added.text


def _cart_quote(buyer: Shopper, **extra: Any) -> dict[str, Any]:
    body = {"cartId": "me", "addressId": buyer.address()["id"], "paymentMethod": VA} | extra
    answer = buyer.client.post("/v1/checkout:quote", json=body)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _cart_lines(buyer: Shopper) -> dict[str, int]:
    cart = buyer.client.get("/v1/carts/me").json()["cart"]
    return {line["skuId"]: line["quantity"] for shop in cart.get("shops", []) for line in shop["lines"]}


def test_a_cart_priced_to_an_address_shows_each_shops_shipping_and_the_totals_and_is_placed(
    platform: Platform,
) -> None:
    buyer = Shopper(platform, "buyer", 1)
    seller, other = Shopper(platform, "seller", 4), Shopper(platform, "seller", 3)
    (_, first, _), (_, second, _) = _stocked_skus(seller, 2)
    (_, elsewhere, _), (_, kept_back, _) = _stocked_skus(other, 2)
    _empty_cart(buyer)
    for sku_id, quantity in ((first, 2), (second, 1), (elsewhere, 1), (kept_back, 1)):
        _add(buyer, sku_id, quantity)
    unselected = buyer.client.patch(f"/v1/carts/me/lines/{kept_back}", json={"selected": False})
    assert unselected.status_code == 200, unselected.text

    answer = _cart_quote(buyer)
    quote, options = answer["quote"], {o["shopId"]: o["rates"] for o in answer["shippingOptions"]}
    shops = {shop["shopId"]: shop for shop in quote["shops"]}
    # One part per shop, with the cart's selected lines only, at the cart's quantities.
    assert set(shops) == set(options) == {seller.account["shop_id"], other.account["shop_id"]}
    lines = {line["skuId"]: line["quantity"] for shop in shops.values() for line in shop["lines"]}
    assert lines == {first: 2, second: 1, elsewhere: 1}
    for shop_id, shop in shops.items():
        # The shop's shipping is its cheapest service without a delivery slot, among those offered.
        unslotted = [rate for rate in options[shop_id] if not rate.get("slotted")]
        assert shop["rateId"] == unslotted[0]["id"]
        assert int(shop["shippingFee"]["amount"]) == int(unslotted[0]["price"]["amount"]) > 0
        assert [int(r["price"]["amount"]) for r in options[shop_id]] == sorted(
            int(r["price"]["amount"]) for r in options[shop_id]
        )
    amount = {key: int(quote[key]["amount"]) for key in ("itemsSubtotal", "shippingTotal", "serviceFee")}
    assert amount["shippingTotal"] == sum(int(s["shippingFee"]["amount"]) for s in shops.values())
    assert int(quote["grandTotal"]["amount"]) == (
        amount["itemsSubtotal"]
        + amount["shippingTotal"]
        + amount["serviceFee"]
        - int(quote.get("discountTotal", {}).get("amount", 0))
    )

    # Another service of the offered ones, named by its codes, is what the next quote ships by.
    seller_shop = seller.account["shop_id"]
    pricier = next((r for r in options[seller_shop][1:] if not r.get("slotted")), None)
    if pricier is not None:
        choice = {"shopId": seller_shop, "courier": pricier["courier"], "service": pricier["service"]}
        again = _cart_quote(buyer, shipping=[choice])["quote"]
        picked = next(shop for shop in again["shops"] if shop["shopId"] == seller_shop)
        assert (picked["courier"], picked["courierService"]) == (pricier["courier"], pricier["service"])
        assert int(picked["shippingFee"]["amount"]) == int(pricier["price"]["amount"])

    # The cart changes after the quote; placing it checks out what the buyer saw, and the cart keeps the rest.
    _add(buyer, second, 1)
    placed = _place(buyer, quote["id"])
    assert placed.status_code == 200, placed.text
    checkout = placed.json()["checkout"]
    assert len(checkout["orderIds"]) == 2
    assert {
        line["skuId"]: line["quantity"] for s in checkout["quote"]["shops"] for line in s["lines"]
    } == lines
    left = _until(lambda: _cart_lines(buyer), lambda c: first not in c)
    assert left == {second: 1, kept_back: 1}


def test_a_cart_quote_refuses_another_cart_an_empty_one_and_a_service_not_offered(platform: Platform) -> None:
    buyer, seller = Shopper(platform, "buyer", 2), Shopper(platform, "seller", 4)
    address = buyer.address()["id"]
    not_mine = buyer.client.post(
        "/v1/checkout:quote", json={"cartId": "a-guest-cart", "addressId": address, "paymentMethod": VA}
    )
    _problem(not_mine, 400, "CART_NOT_FOUND")

    _empty_cart(buyer)
    empty = buyer.client.post(
        "/v1/checkout:quote", json={"cartId": "me", "addressId": address, "paymentMethod": VA}
    )
    _problem(empty, 400, "NOTHING_TO_CHECK_OUT")

    ((_, sku_id, _),) = _stocked_skus(seller, 1)
    _add(buyer, sku_id, 1)
    shop_id = seller.account["shop_id"]
    # Before the buyer picks how to pay, the cart's totals are a preview: priced, but not placed.
    preview = buyer.client.post("/v1/checkout:quote", json={"cartId": "me", "addressId": address})
    assert preview.status_code == 200, preview.text
    assert int(preview.json()["quote"]["grandTotal"]["amount"]) > 0
    _problem(_place(buyer, preview.json()["quote"]["id"]), 400, "PAYMENT_METHOD_REQUIRED")
    nowhere = buyer.client.post(
        "/v1/checkout:quote",
        json={
            "cartId": "me",
            "addressId": address,
            "paymentMethod": VA,
            "shipping": [{"shopId": shop_id, "courier": "jne", "service": "NOPE"}],
        },
    )
    assert "jne/NOPE" in _problem(nowhere, 400, "SHIPPING_OPTION_INVALID")["detail"]
    vague = buyer.client.post(
        "/v1/checkout:quote",
        json={"cartId": "me", "addressId": address, "paymentMethod": VA, "shipping": [{"shopId": shop_id}]},
    )
    _problem(vague, 400, "SHIPPING_OPTION_INVALID")
    unused = buyer.client.post(
        "/v1/checkout:quote",
        json={
            "cartId": "me",
            "addressId": address,
            "paymentMethod": VA,
            "shipping": [
                {
                    "shopId": Shopper(platform, "seller", 3).account["shop_id"],
                    "courier": "jne",
                    "service": "REG",
                }
            ],
        },
    )
    _problem(unused, 400, "SHIPPING_CHOICE_UNUSED")
    # Nothing was kept of the refused asks: the buyer's cart is as it was.
    assert _cart_lines(buyer) == {sku_id: 1}
    _empty_cart(buyer)
