"""The gRPC servicer: request -> command -> handler -> response, nothing else."""

from __future__ import annotations

from typing import Any

from toko.platform.context import current_principal, idempotency_key_var
from toko.promotion.v1 import promotion_pb2 as pb
from toko.promotion.v1.promotion_pb2_grpc import PromotionServiceServicer
from toko.services.promotion import handlers
from toko.services.promotion.domain import Checkout, Line
from toko.services.promotion.handlers import Promotions
from toko.services.promotion.mapping import draft_from_proto, moment


class PromotionServicer(PromotionServiceServicer):
    """Serves vouchers over gRPC; access rules are enforced by the platform's interceptor."""

    def __init__(self, promotions: Promotions) -> None:
        self._promotions = promotions

    async def CreateVoucher(self, request: pb.CreateVoucherRequest, context: Any) -> pb.CreateVoucherResponse:
        """Make a voucher."""
        voucher = await handlers.create_voucher(
            promotions=self._promotions,
            draft=draft_from_proto(request.voucher),
            principal=current_principal(),
            idempotency_key=idempotency_key_var.get(),
        )
        return pb.CreateVoucherResponse(voucher=voucher)

    async def GetVoucher(self, request: pb.GetVoucherRequest, context: Any) -> pb.GetVoucherResponse:
        """Return a voucher."""
        voucher = await handlers.get_voucher(
            promotions=self._promotions, voucher_id=request.id, principal=current_principal()
        )
        return pb.GetVoucherResponse(voucher=voucher)

    async def ListVouchers(self, request: pb.ListVouchersRequest, context: Any) -> pb.ListVouchersResponse:
        """List the vouchers live now."""
        found, next_page_token = await handlers.list_vouchers(
            promotions=self._promotions,
            shop_id=request.shop_id,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListVouchersResponse(vouchers=found, next_page_token=next_page_token)

    async def EndVoucher(self, request: pb.EndVoucherRequest, context: Any) -> pb.EndVoucherResponse:
        """End a voucher now."""
        voucher = await handlers.end_voucher(
            promotions=self._promotions, voucher_id=request.id, principal=current_principal()
        )
        return pb.EndVoucherResponse(voucher=voucher)

    async def ApplyVouchers(self, request: pb.ApplyVouchersRequest, context: Any) -> pb.ApplyVouchersResponse:
        """Work out the vouchers' discounts on a checkout."""
        checkout = Checkout(
            lines=tuple(
                Line(
                    sku_id=line.sku_id,
                    shop_id=line.shop_id,
                    category_id=line.category_id,
                    quantity=line.quantity,
                    line_total=line.line_total.amount,
                )
                for line in request.lines
            ),
            shipping={shipping.shop_id: shipping.fee.amount for shipping in request.shipping},
            payment_method=request.payment_method,
            first_order=request.first_order,
        )
        command = handlers.ApplyVouchers(
            buyer_id=request.buyer_id,
            checkout=checkout,
            requested=tuple(request.vouchers),
            at=moment(request.at, request.HasField("at")),
        )
        return await handlers.apply_vouchers(
            promotions=self._promotions, command=command, principal=current_principal()
        )

    async def HoldVoucherUsages(
        self, request: pb.HoldVoucherUsagesRequest, context: Any
    ) -> pb.HoldVoucherUsagesResponse:
        """Hold the vouchers' usages for a checkout."""
        usages = await handlers.hold_usages(
            promotions=self._promotions,
            checkout_id=request.checkout_id,
            buyer_id=request.buyer_id,
            voucher_ids=list(request.voucher_ids),
            expire_at=moment(request.expire_time, request.HasField("expire_time")),
        )
        return pb.HoldVoucherUsagesResponse(usages=usages)

    async def RedeemVoucherUsages(
        self, request: pb.RedeemVoucherUsagesRequest, context: Any
    ) -> pb.RedeemVoucherUsagesResponse:
        """Redeem a paid checkout's usages."""
        usages = await handlers.redeem_usages(promotions=self._promotions, checkout_id=request.checkout_id)
        return pb.RedeemVoucherUsagesResponse(usages=usages)

    async def ReleaseVoucherUsages(
        self, request: pb.ReleaseVoucherUsagesRequest, context: Any
    ) -> pb.ReleaseVoucherUsagesResponse:
        """Give a checkout's usages back."""
        usages = await handlers.release_usages(promotions=self._promotions, checkout_id=request.checkout_id)
        return pb.ReleaseVoucherUsagesResponse(usages=usages)
