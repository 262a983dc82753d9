"""Conversions between the service's protobuf messages and its domain objects."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money
from toko.promotion.v1 import promotion_pb2 as pb
from toko.services.promotion.domain import (
    CURRENCY,
    Applied,
    Outcome,
    Usage,
    UsageState,
    Voucher,
    VoucherDraft,
    VoucherKind,
)

KIND_TO_PROTO: Mapping[VoucherKind, pb.VoucherKind.ValueType] = {
    VoucherKind.PERCENTAGE: pb.VOUCHER_KIND_PERCENTAGE,
    VoucherKind.FIXED_AMOUNT: pb.VOUCHER_KIND_FIXED_AMOUNT,
    VoucherKind.FREE_SHIPPING: pb.VOUCHER_KIND_FREE_SHIPPING,
}
KIND_FROM_PROTO = {value: kind for kind, value in KIND_TO_PROTO.items()}
STATE_TO_PROTO: Mapping[UsageState, pb.UsageState.ValueType] = {
    UsageState.HELD: pb.USAGE_STATE_HELD,
    UsageState.REDEEMED: pb.USAGE_STATE_REDEEMED,
    UsageState.RELEASED: pb.USAGE_STATE_RELEASED,
}


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def moment(stamp: Timestamp, present: bool) -> datetime | None:
    """A timestamp off the wire, or None when the field was not set."""
    return stamp.ToDatetime(tzinfo=UTC) if present else None


def money(amount: int) -> Money:
    """An amount in rupiah on the wire."""
    return Money(amount=amount, currency=CURRENCY)


def voucher_to_proto(voucher: Voucher) -> pb.Voucher:
    """A voucher on the wire, with its counts."""
    message = pb.Voucher(
        id=voucher.id,
        code=voucher.code,
        name=voucher.name,
        shop_id=voucher.shop_id,
        kind=KIND_TO_PROTO[voucher.kind],
        percent_bp=voucher.percent_bp,
        amount=money(voucher.amount),
        min_spend=money(voucher.min_spend),
        start_time=timestamp(voucher.start_at),
        end_time=timestamp(voucher.end_at),
        total_limit=voucher.total_limit,
        per_buyer_limit=voucher.per_buyer_limit,
        eligible_shop_ids=sorted(voucher.eligible_shop_ids),
        eligible_category_ids=sorted(voucher.eligible_category_ids),
        eligible_sku_ids=sorted(voucher.eligible_sku_ids),
        new_buyers_only=voucher.new_buyers_only,
        payment_methods=sorted(voucher.payment_methods),
        auto_apply=voucher.auto_apply,
        held_count=voucher.held_count,
        redeemed_count=voucher.redeemed_count,
        create_time=timestamp(voucher.created_at),
    )
    if voucher.ended_at is not None:
        message.ended_time.CopyFrom(timestamp(voucher.ended_at))
    return message


def draft_from_proto(message: pb.Voucher) -> VoucherDraft:
    """What a CreateVoucher request asks for."""
    return VoucherDraft(
        name=message.name,
        kind=KIND_FROM_PROTO.get(message.kind),
        start_at=moment(message.start_time, message.HasField("start_time")),
        end_at=moment(message.end_time, message.HasField("end_time")),
        code=message.code,
        shop_id=message.shop_id,
        percent_bp=message.percent_bp,
        amount=message.amount.amount,
        currency=message.amount.currency,
        min_spend=message.min_spend.amount,
        min_spend_currency=message.min_spend.currency,
        total_limit=message.total_limit,
        per_buyer_limit=message.per_buyer_limit,
        eligible_shop_ids=tuple(message.eligible_shop_ids),
        eligible_category_ids=tuple(message.eligible_category_ids),
        eligible_sku_ids=tuple(message.eligible_sku_ids),
        new_buyers_only=message.new_buyers_only,
        payment_methods=tuple(message.payment_methods),
        auto_apply=message.auto_apply,
    )


def usage_to_proto(usage: Usage) -> pb.VoucherUsage:
    """A usage on the wire."""
    return pb.VoucherUsage(
        voucher_id=usage.voucher_id,
        checkout_id=usage.checkout_id,
        buyer_id=usage.buyer_id,
        state=STATE_TO_PROTO[usage.state],
        expire_time=timestamp(usage.expire_at),
    )


def _applied_to_proto(applied: Applied) -> pb.AppliedVoucher:
    return pb.AppliedVoucher(
        voucher=voucher_to_proto(applied.voucher),
        discount=money(applied.discount),
        line_discounts=[pb.LineDiscount(sku_id=sku, amount=money(part)) for sku, part in applied.line_parts],
        shipping_discounts=[
            pb.ShippingDiscount(shop_id=shop, amount=money(part)) for shop, part in applied.shipping_parts
        ],
        auto_applied=applied.auto_applied,
        explanation=applied.explanation,
    )


def outcome_to_proto(outcome: Outcome) -> pb.ApplyVouchersResponse:
    """What ApplyVouchers answers."""
    return pb.ApplyVouchersResponse(
        applied=[_applied_to_proto(applied) for applied in outcome.applied],
        refused=[
            pb.RefusedVoucher(requested=asked, reason=why.reason.value, message=why.message)
            for asked, why in outcome.refused
        ],
        items_discount=money(outcome.items_discount),
        shipping_discount=money(outcome.shipping_discount),
    )
