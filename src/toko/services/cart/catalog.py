"""What the cart asks of the product service: SKU facts and price quotes, over its public gRPC API.

``Catalog`` is the port the use cases depend on; ``ProductCatalog`` is the adapter over gRPC. The
product service is the only source of prices, so it being out of reach is never papered over: every
failure to get an answer becomes ``Unavailable`` (``PRICING_UNAVAILABLE``), and no cart is shown with
prices it could not confirm.

The quote refuses a whole request naming a SKU that is unknown or not on sale. The cart asks only for
SKUs the product service just said are on sale, but a product can be archived in between: the adapter
then quotes again without the SKUs the refusal named, so one line that went away never fails a cart.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import grpc

from toko.common.v1.money_pb2 import Money as MoneyProto
from toko.platform.context import remaining_seconds
from toko.platform.errors import Unavailable
from toko.platform.grpc import refusal_of
from toko.product.v1 import pricing_pb2 as ppb
from toko.product.v1 import product_pb2 as pb
from toko.product.v1 import product_pb2_grpc
from toko.services.cart.domain import Money, NextTier, QuotedPrice, SkuFacts
from toko.services.cart.error_codes import ErrorCode

# The product service's names of price sources, as a cart line shows them.
PRICE_SOURCES = {
    ppb.PRICE_SOURCE_BASE: "base",
    ppb.PRICE_SOURCE_SCHEDULE: "schedule",
    ppb.PRICE_SOURCE_CAMPAIGN: "campaign",
    ppb.PRICE_SOURCE_TIER: "tier",
    ppb.PRICE_SOURCE_DYNAMIC: "dynamic",
}
# A quote refused for SKUs that went off sale is asked again without them; more rounds than this mean
# something other than a race with the catalogue.
QUOTE_ATTEMPTS = 3
_LINE_FIELD = re.compile(r"^lines\[(\d+)\]\.sku_id$")
_REFUSED_FOR_SKUS = (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION)


@dataclass(frozen=True)
class Quote:
    """Prices of the lines the product service quoted, and the window they hold in."""

    prices: dict[str, QuotedPrice] = field(default_factory=dict)
    priced_at: datetime | None = None
    expires_at: datetime | None = None


class Catalog(Protocol):
    """What the use cases need of the product service; raises ``Unavailable`` when it cannot answer."""

    async def skus(self, sku_ids: Sequence[str]) -> dict[str, SkuFacts]:
        """The SKUs it knows among ``sku_ids`` (at most 100), by id."""
        ...

    async def quote(self, lines: Sequence[tuple[str, int]]) -> Quote:
        """Prices of ``(sku_id, quantity)`` lines (at most 100); SKUs it will not quote are left out."""
        ...


class ProductCatalog:
    """``Catalog`` over the product service's gRPC API (public RPCs: no token is sent)."""

    def __init__(self, address: str, *, timeout: float) -> None:
        self._channel = grpc.aio.insecure_channel(address)
        self._stub = product_pb2_grpc.ProductServiceStub(self._channel)
        self._timeout = timeout

    async def skus(self, sku_ids: Sequence[str]) -> dict[str, SkuFacts]:
        """The SKUs it knows among ``sku_ids`` (at most 100), by id."""
        try:
            reply = await self._stub.BatchGetSkus(
                pb.BatchGetSkusRequest(ids=list(sku_ids)), timeout=self._call_timeout()
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable(error) from error
        return {view.sku.id: _sku_facts(view) for view in reply.skus}

    async def quote(self, lines: Sequence[tuple[str, int]]) -> Quote:
        """Prices of ``(sku_id, quantity)`` lines (at most 100); SKUs it will not quote are left out."""
        asked = list(lines)
        for _ in range(QUOTE_ATTEMPTS):
            if not asked:
                return Quote()
            request = ppb.QuotePricesRequest(
                lines=[ppb.QuoteLine(sku_id=sku_id, quantity=quantity) for sku_id, quantity in asked]
            )
            try:
                reply = await self._stub.QuotePrices(request, timeout=self._call_timeout())
            except grpc.aio.AioRpcError as error:
                refused = _refused_lines(error) if error.code() in _REFUSED_FOR_SKUS else set()
                if not refused:
                    raise _unavailable(error) from error
                asked = [line for i, line in enumerate(asked) if i not in refused]
                continue
            return Quote(
                prices={line.sku_id: _quoted_price(line) for line in reply.lines},
                priced_at=reply.quote_time.ToDatetime(tzinfo=UTC),
                expires_at=reply.expire_time.ToDatetime(tzinfo=UTC),
            )
        raise Unavailable(
            ErrorCode.PRICING_UNAVAILABLE, "the product service kept refusing to price the cart"
        )

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close()

    def _call_timeout(self) -> float:
        # Never wait longer than the caller of the cart will.
        left = remaining_seconds(self._timeout)
        return self._timeout if left is None else min(left, self._timeout)


def _refused_lines(error: grpc.aio.AioRpcError) -> set[int]:
    """Indices of the quote lines a refusal names (``lines[3].sku_id``)."""
    _, violations = refusal_of(error)
    return {int(found.group(1)) for v in violations if (found := _LINE_FIELD.match(v.field))}


def _unavailable(error: grpc.aio.AioRpcError) -> Unavailable:
    return Unavailable(
        ErrorCode.PRICING_UNAVAILABLE,
        f"the product service, which prices carts, did not answer ({error.code().name}); retry",
    )


def _money(message: MoneyProto) -> Money:
    return Money(amount=message.amount, currency=message.currency)


def _sku_facts(view: pb.SkuView) -> SkuFacts:
    availability = view.sku.availability
    return SkuFacts(
        sku_id=view.sku.id,
        product_id=view.product_id,
        shop_id=view.shop_id,
        product_title=view.product_title,
        image_url=view.image_url,
        option_values=dict(view.sku.option_values),
        on_sale=view.product_status == pb.PRODUCT_STATUS_ACTIVE,
        stock_known=availability.level not in (pb.STOCK_LEVEL_UNSPECIFIED, pb.STOCK_LEVEL_UNKNOWN),
        in_stock=availability.in_stock,
        quantity_bucket=availability.quantity_bucket,
    )


def _quoted_price(line: ppb.QuotedLine) -> QuotedPrice:
    running = line.HasField("campaign_countdown") and line.campaign_countdown.seconds_to_end > 0
    next_tier = None
    if line.HasField("next_tier"):
        next_tier = NextTier(line.next_tier.min_quantity, _money(line.next_tier.unit_price))
    return QuotedPrice(
        unit_price=_money(line.unit_price),
        source=PRICE_SOURCES.get(line.source, "base"),
        base_price=_money(line.base_price),
        per_buyer_limit=line.per_buyer_limit if running else 0,
        next_tier=next_tier,
    )
