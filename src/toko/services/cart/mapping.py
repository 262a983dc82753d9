"""Conversions between the service's domain objects and its protobuf messages."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.cart.v1 import cart_pb2 as pb
from toko.common.v1.money_pb2 import Money as MoneyProto
from toko.services.cart.domain import (
    CURRENCY,
    Money,
    Notice,
    NoticeKind,
    PricedCart,
    PricedLine,
    by_shop,
    selected_total,
)

NOTICE_KINDS = {
    NoticeKind.PRICE_UP: pb.CART_LINE_NOTICE_KIND_PRICE_UP,
    NoticeKind.PRICE_DOWN: pb.CART_LINE_NOTICE_KIND_PRICE_DOWN,
    NoticeKind.OUT_OF_STOCK: pb.CART_LINE_NOTICE_KIND_OUT_OF_STOCK,
    NoticeKind.FEWER_LEFT: pb.CART_LINE_NOTICE_KIND_FEWER_LEFT,
    NoticeKind.OVER_PURCHASE_LIMIT: pb.CART_LINE_NOTICE_KIND_OVER_PURCHASE_LIMIT,
    NoticeKind.FLASH_SALE_ENDED: pb.CART_LINE_NOTICE_KIND_FLASH_SALE_ENDED,
    NoticeKind.UNAVAILABLE: pb.CART_LINE_NOTICE_KIND_UNAVAILABLE,
    NoticeKind.NEXT_TIER: pb.CART_LINE_NOTICE_KIND_NEXT_TIER,
}


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def money(value: Money) -> MoneyProto:
    """An amount on the wire."""
    return MoneyProto(amount=value.amount, currency=value.currency)


def cart_to_proto(priced: PricedCart) -> pb.Cart:
    """A repriced cart on the wire, its lines grouped by shop."""
    message = pb.Cart(
        id=priced.public_id,
        buyer_id=priced.cart.buyer_id,
        shops=[
            pb.ShopLines(
                shop_id=shop_id,
                lines=[line_to_proto(line) for line in lines],
                selected_subtotal=money(Money(selected_total(lines))),
            )
            for shop_id, lines in by_shop(priced.lines)
        ],
        total_quantity=priced.total_quantity,
        selected_quantity=priced.selected_quantity,
        selected_total=money(Money(selected_total(priced.lines), CURRENCY)),
        update_time=timestamp(priced.cart.updated_at),
        price_time=timestamp(priced.priced_at),
    )
    if priced.cart.expires_at is not None:
        message.expire_time.CopyFrom(timestamp(priced.cart.expires_at))
    if priced.price_expires_at is not None:
        message.price_expire_time.CopyFrom(timestamp(priced.price_expires_at))
    return message


def line_to_proto(priced: PricedLine) -> pb.CartLine:
    """One line as the buyer sees it now."""
    line, sku, price = priced.line, priced.sku, priced.price
    message = pb.CartLine(
        sku_id=line.sku_id,
        quantity=line.quantity,
        note=line.note,
        selected=line.selected,
        purchasable=priced.purchasable,
        notices=[notice_to_proto(notice) for notice in priced.notices],
        add_time=timestamp(line.added_at),
    )
    if sku is not None:
        message.product_id = sku.product_id
        message.product_title = sku.product_title
        message.image_url = sku.image_url
        message.option_values.update(sku.option_values)
        message.quantity_bucket = sku.quantity_bucket
    if price is not None:
        message.unit_price.CopyFrom(money(price.unit_price))
        message.line_total.CopyFrom(money(Money(priced.total, price.unit_price.currency)))
        message.price_source = price.source
        message.base_price.CopyFrom(money(price.base_price))
    if line.seen_price is not None:
        message.seen_unit_price.CopyFrom(money(line.seen_price))
    return message


def notice_to_proto(notice: Notice) -> pb.CartLineNotice:
    """One notice on the wire."""
    message = pb.CartLineNotice(
        kind=NOTICE_KINDS[notice.kind], message=notice.message, quantity=notice.quantity
    )
    if notice.previous_price is not None:
        message.previous_unit_price.CopyFrom(money(notice.previous_price))
    if notice.unit_price is not None:
        message.unit_price.CopyFrom(money(notice.unit_price))
    return message
