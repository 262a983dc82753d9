"""A flash sale bought through checkout: no claim, no campaign price; a claim is its buyer's alone (listed
to them, and attached by itself when their cart is checked out), and its unit comes out of the
campaign's quota, not the shop's regular stock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx
from test_cart_priced_to_an_address import _add, _cart_quote, _empty_cart
from test_checkout_rules import Shopper, _place, _problem, _quote, _sandbox, _stocked_sku, _until

if TYPE_CHECKING:
    from conftest import Platform


def test_a_flash_sale_line_pays_the_campaign_price_only_with_the_buyers_own_claim(platform: Platform) -> None:
    buyer, rival, seller = (
        Shopper(platform, "buyer", 3),
        Shopper(platform, "buyer", 4),
        Shopper(platform, "seller", 2),
    )
    product, sku_id, _ = _stocked_sku(seller, skip=2)
    base = int(next(s for s in product["skus"] if s["id"] == sku_id)["price"]["amount"])
    admin = {"Authorization": f"Bearer {platform.scripts_token('catalog.write admin')}"}
    now = datetime.now(UTC)
    with httpx.Client(base_url=platform.base_url, headers=admin, timeout=30) as client:
        campaign = client.post(
            "/v1/campaigns",
            json={
                "name": "Flash Sale 12.12",
                "startTime": (now + timedelta(seconds=3)).isoformat(),
                "endTime": (now + timedelta(hours=1)).isoformat(),
            },
        )
        assert campaign.status_code == 200, campaign.text
        campaign_id = campaign.json()["campaign"]["id"]
        added = client.post(
            f"/v1/campaigns/{campaign_id}/skus",
            json={
                "skus": [
                    {
                        "skuId": sku_id,
                        "campaignPrice": {"amount": str(base // 2), "currency": "IDR"},
                        "quota": 2,
                        "perBuyerLimit": 1,
                    }
                ]
            },
        )
        assert added.status_code == 200, added.text
    claim_url = f"/v1/flash-sales/{campaign_id}/skus/{sku_id}:claim"
    # The campaign opens in a moment, and inventory sets its quota apart when it hears of it.
    claimed = _until(
        lambda: buyer.client.post(claim_url, json={"quantity": 1}), lambda r: r.status_code == 200, 60
    )
    assert claimed.status_code == 200, claimed.text
    claim_id = claimed.json()["claimId"]
    regular_before = int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0))
    # The buyer sees the claim they hold; nobody else does.
    held = buyer.client.get("/v1/flash-sale-claims").json()["claims"]
    assert [(c["id"], c["skuId"], c["quantity"]) for c in held] == [(claim_id, sku_id, 1)]
    assert all(
        c["id"] != claim_id for c in rival.client.get("/v1/flash-sale-claims").json().get("claims", [])
    )
    # Their cart, checked out as it is, buys the line with the claim: the campaign's price.
    _empty_cart(buyer)
    _add(buyer, sku_id, 1)
    (cart_line,) = _cart_quote(buyer)["quote"]["shops"][0]["lines"]
    assert (cart_line["priceSource"], cart_line["flashSaleClaimId"]) == ("campaign", claim_id)
    assert int(cart_line["unitPrice"]["amount"]) == base // 2
    _empty_cart(buyer)

    def with_the_claim(shopper: Shopper, quantity: int) -> httpx.Response:
        line = {"skuId": sku_id, "quantity": quantity, "flashSaleClaimId": claim_id}
        return _quote(shopper, seller, product, sku_id, quantity, lines=[line])

    without_claim = _quote(buyer, seller, product, sku_id, 1).json()["quote"]
    with_claim = with_the_claim(buyer, 1).json()["quote"]
    borrowed = with_the_claim(rival, 1).json()["quote"]
    too_many = with_the_claim(buyer, 2)

    (plain_line,) = without_claim["shops"][0]["lines"]
    (sale_line,) = with_claim["shops"][0]["lines"]
    assert plain_line["priceSource"] != "campaign"
    assert int(plain_line["unitPrice"]["amount"]) >= base // 2 + 1
    assert (sale_line["priceSource"], int(sale_line["unitPrice"]["amount"])) == ("campaign", base // 2)
    assert sale_line["flashSaleClaimId"] == claim_id
    # Over the campaign's per-buyer limit the line is not the campaign's, and the claim cannot apply.
    _problem(too_many, 400, "FLASH_SALE_CLAIM_NOT_APPLICABLE")
    # Someone else's claim is refused when the checkout is placed, and nothing stays held.
    _problem(_place(rival, borrowed["id"]), 400, "FLASH_SALE_CLAIM_INVALID")

    placed = _place(buyer, with_claim["id"])
    assert placed.status_code == 200, placed.text
    checkout = placed.json()["checkout"]
    paid = httpx.post(
        f"{_sandbox(platform)}/payments/simulate/{checkout['payment']['id']}",
        json={"outcome": "pay"},
        timeout=10,
    )
    assert paid.status_code == 200
    (order_id,) = checkout["orderIds"]
    order = _until(
        lambda: buyer.client.get(f"/v1/orders/{order_id}").json()["order"],
        lambda o: o["state"] == "ORDER_STATE_PAID",
    )
    allocation = buyer.client.get(f"/v1/flash-sales/{campaign_id}/skus/{sku_id}").json()["allocation"]

    assert order["state"] == "ORDER_STATE_PAID"
    assert int(order["details"]["total"]["amount"]) < int(without_claim["shops"][0]["total"]["amount"])
    # The unit sold came out of the quota: the shop's regular stock is as it was.
    assert int(seller.client.get(f"/v1/skus/{sku_id}/stock").json().get("available", 0)) == regular_before
    assert allocation["claimed"] == 1
    # The same claim cannot buy twice, and is no longer listed as held.
    assert buyer.client.get("/v1/flash-sale-claims").json().get("claims", []) == []
    again = with_the_claim(buyer, 1).json()["quote"]
    _problem(_place(buyer, again["id"]), 400, "FLASH_SALE_CLAIM_INVALID")
