"""Conversions between the catalog's protobuf messages and its domain objects."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from toko.common.v1.money_pb2 import Money as MoneyProto
from toko.product.v1 import product_pb2 as pb
from toko.services.product.domain.catalog import (
    Attribute,
    Category,
    Condition,
    Dimensions,
    Money,
    Product,
    ProductOption,
    ProductSpec,
    ProductStatus,
    Sku,
    SkuSpec,
    SkuView,
)
from toko.services.product.domain.pricing import PriceSource
from toko.services.product.domain.storefront import SkuOffer
from toko.services.product.mapping.common import money, timestamp
from toko.services.product.mapping.storefront import offer_onto

CONDITION_TO_PROTO = {Condition.NEW: pb.CONDITION_NEW, Condition.USED: pb.CONDITION_USED}
CONDITION_FROM_PROTO: dict[int, Condition] = {
    int(n): condition for condition, n in CONDITION_TO_PROTO.items()
}
STATUS_TO_PROTO = {
    ProductStatus.DRAFT: pb.PRODUCT_STATUS_DRAFT,
    ProductStatus.ACTIVE: pb.PRODUCT_STATUS_ACTIVE,
    ProductStatus.ARCHIVED: pb.PRODUCT_STATUS_ARCHIVED,
}
STATUS_FROM_PROTO: dict[int, ProductStatus] = {int(n): status for status, n in STATUS_TO_PROTO.items()}


def condition_from_proto(number: int) -> Condition | None:
    """The condition, or None when unspecified or unknown."""
    return CONDITION_FROM_PROTO.get(number)


def status_from_proto(number: int) -> ProductStatus | None:
    """The status, or None when unspecified or unknown."""
    return STATUS_FROM_PROTO.get(number)


def money_to_proto(price: Money) -> MoneyProto:
    """Money on the wire."""
    return money(price.amount, price.currency)


def category_to_proto(category: Category) -> pb.Category:
    """A category on the wire."""
    return pb.Category(
        id=category.id,
        parent_id=category.parent_id or "",
        name=category.name,
        slug=category.slug,
        path=category.path,
    )


def sku_to_proto(sku: Sku) -> pb.Sku:
    """A SKU on the wire."""
    return pb.Sku(id=sku.id, code=sku.code, option_values=sku.option_values, price=money_to_proto(sku.price))


def product_to_proto(
    product: Product, offers: Mapping[str, SkuOffer] | None = None, now: datetime | None = None
) -> pb.Product:
    """A product on the wire, SKUs included; with ``offers``, what a storefront shows of each at ``now``."""
    message = pb.Product(
        id=product.id,
        shop_id=product.shop_id,
        category_id=product.category_id,
        title=product.title,
        slug=product.slug,
        description=product.description,
        condition=CONDITION_TO_PROTO[product.condition],
        status=STATUS_TO_PROTO[product.status],
        attributes=[pb.Attribute(name=a.name, value=a.value) for a in product.attributes],
        image_urls=product.image_urls,
        weight_grams=product.weight_grams,
        dimensions=_dimensions_to_proto(product.dimensions),
        options=[pb.ProductOption(name=o.name, values=o.values) for o in product.options],
        skus=[sku_to_proto(sku) for sku in product.skus],
        min_price=money_to_proto(product.min_price),
        max_price=money_to_proto(product.max_price),
        create_time=timestamp(product.created_at),
        update_time=timestamp(product.updated_at),
        version=product.version,
    )
    if offers is not None:
        assert now is not None, "offers are shown as of an instant"
        for sku in message.skus:
            if sku.id in offers:
                offer_onto(sku, offers[sku.id], now)
        current = [sku.current_price.amount for sku in message.skus if sku.HasField("current_price")]
        if current:
            message.current_min_price.CopyFrom(money(min(current), product.currency))
            message.current_max_price.CopyFrom(money(max(current), product.currency))
    return message


def sku_view_to_proto(view: SkuView, offer: SkuOffer | None, now: datetime) -> pb.SkuView:
    """A SKU with its product facts on the wire, and its offer as of ``now`` (the base price without one)."""
    message = pb.SkuView(
        sku=sku_to_proto(view.sku),
        product_id=view.product_id,
        product_title=view.product_title,
        shop_id=view.shop_id,
        product_status=STATUS_TO_PROTO[view.product_status],
        weight_grams=view.weight_grams,
        image_url=view.image_url,
        dimensions=_dimensions_to_proto(view.dimensions),
    )
    if offer is None:
        base = view.sku.price.amount
        offer = SkuOffer(view.sku.id, base=base, price=base, source=PriceSource.BASE, lowest_30d=base)
    offer_onto(message.sku, offer, now)
    # The view's own copies, from before the SKU carried its offer.
    message.current_price.CopyFrom(message.sku.current_price)
    message.current_price_source = message.sku.current_price_source
    message.lowest_price_30d.CopyFrom(message.sku.lowest_price_30d)
    return message


def _options(options: Iterable[pb.ProductOption]) -> tuple[ProductOption, ...]:
    return tuple(ProductOption(name=o.name, values=tuple(o.values)) for o in options)


def _attributes(attributes: Iterable[pb.Attribute]) -> tuple[Attribute, ...]:
    return tuple(Attribute(name=a.name, value=a.value) for a in attributes)


def _dimensions_to_proto(dimensions: Dimensions) -> pb.Dimensions:
    return pb.Dimensions(
        length_mm=dimensions.length_mm, width_mm=dimensions.width_mm, height_mm=dimensions.height_mm
    )


def _dimensions(dimensions: pb.Dimensions) -> Dimensions:
    return Dimensions(dimensions.length_mm, dimensions.width_mm, dimensions.height_mm)


def _money(price: MoneyProto) -> Money:
    return Money(amount=price.amount, currency=price.currency)


def spec_from_create(request: pb.CreateProductRequest) -> ProductSpec:
    """The product a create request describes; new and draft unless said otherwise."""
    return ProductSpec(
        category_id=request.category_id,
        title=request.title,
        slug=request.slug,
        description=request.description,
        condition=(
            Condition.NEW
            if request.condition == pb.CONDITION_UNSPECIFIED
            else condition_from_proto(request.condition)
        ),
        status=(
            ProductStatus.DRAFT
            if request.status == pb.PRODUCT_STATUS_UNSPECIFIED
            else status_from_proto(request.status)
        ),
        attributes=_attributes(request.attributes),
        image_urls=tuple(request.image_urls),
        weight_grams=request.weight_grams,
        dimensions=_dimensions(request.dimensions),
        options=_options(request.options),
        skus=tuple(
            SkuSpec(code=s.code, option_values=dict(s.option_values), price=_money(s.price))
            for s in request.skus
        ),
    )


def spec_from_product(product: pb.Product) -> ProductSpec:
    """The new values an update carries (only the masked ones are used)."""
    return ProductSpec(
        category_id=product.category_id,
        title=product.title,
        slug=product.slug,
        description=product.description,
        condition=condition_from_proto(product.condition),
        status=status_from_proto(product.status),
        attributes=_attributes(product.attributes),
        image_urls=tuple(product.image_urls),
        weight_grams=product.weight_grams,
        dimensions=_dimensions(product.dimensions),
        options=_options(product.options),
        skus=tuple(
            SkuSpec(code=s.code, option_values=dict(s.option_values), price=_money(s.price))
            for s in product.skus
        ),
    )
