"""The payment servicer: request → use case → response, nothing else."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1.payment_pb2_grpc import PaymentServiceServicer
from toko.platform.context import current_principal
from toko.platform.error_codes import CommonReason
from toko.platform.errors import InvalidArgument
from toko.services.payment import handlers
from toko.services.payment.handlers import Payments


class PaymentServicer(PaymentServiceServicer):
    """Payments, their ledger and refunds."""

    def __init__(self, payments: Payments) -> None:
        self._payments = payments

    async def ListPaymentMethods(
        self, request: pb.ListPaymentMethodsRequest, context: Any
    ) -> pb.ListPaymentMethodsResponse:
        """Every method a buyer can choose."""
        return pb.ListPaymentMethodsResponse(methods=handlers.list_methods())

    async def CreatePayment(self, request: pb.CreatePaymentRequest, context: Any) -> pb.CreatePaymentResponse:
        """Open a checkout's payment."""
        handlers.require_service(current_principal())
        command = handlers.CreatePayment(
            checkout_id=request.checkout_id,
            buyer_id=request.buyer_id,
            amount=request.amount.amount,
            currency=request.amount.currency,
            method=request.method,
            expire_time=handlers.expire_time_of(request),
            description=request.description,
            mobile_number=request.mobile_number,
        )
        payment = await handlers.create_payment(payments=self._payments, command=command)
        return pb.CreatePaymentResponse(payment=payment)

    async def GetPayment(self, request: pb.GetPaymentRequest, context: Any) -> pb.GetPaymentResponse:
        """A payment."""
        payment = await handlers.get_payment(
            payments=self._payments, payment_id=request.id, principal=current_principal()
        )
        return pb.GetPaymentResponse(payment=payment)

    async def WatchPayment(
        self, request: pb.WatchPaymentRequest, context: Any
    ) -> AsyncIterator[pb.WatchPaymentResponse]:
        """A payment now and at each change until it is final."""
        async for payment in handlers.watch_payment(
            payments=self._payments, payment_id=request.id, principal=current_principal()
        ):
            yield pb.WatchPaymentResponse(payment=payment)

    async def CancelPayment(self, request: pb.CancelPaymentRequest, context: Any) -> pb.CancelPaymentResponse:
        """Cancel a payment not captured."""
        handlers.require_service(current_principal())
        payment = await handlers.cancel_payment(
            payments=self._payments, payment_id=request.id, reason=request.reason
        )
        return pb.CancelPaymentResponse(payment=payment)

    async def RefundPayment(self, request: pb.RefundPaymentRequest, context: Any) -> pb.RefundPaymentResponse:
        """Refund part or all of a captured payment."""
        handlers.require_service(current_principal())
        if request.amount.currency not in ("", "IDR"):
            raise InvalidArgument.field("amount.currency", "only IDR", CommonReason.VALIDATION_FAILED)
        refund, payment = await handlers.refund_payment(
            payments=self._payments,
            payment_id=request.payment_id,
            refund_id=request.refund_id,
            amount=request.amount.amount,
            reason=request.reason,
        )
        return pb.RefundPaymentResponse(refund=refund, payment=payment)

    async def SettleCashOnDelivery(
        self, request: pb.SettleCashOnDeliveryRequest, context: Any
    ) -> pb.SettleCashOnDeliveryResponse:
        """Record the cash a courier collected."""
        handlers.require_service(current_principal())
        payment = await handlers.settle_cash_on_delivery(
            payments=self._payments, payment_id=request.payment_id, reference=request.reference
        )
        return pb.SettleCashOnDeliveryResponse(payment=payment)

    async def ListReconciliationMismatches(
        self, request: pb.ListReconciliationMismatchesRequest, context: Any
    ) -> pb.ListReconciliationMismatchesResponse:
        """What reconciliation found."""
        handlers.require_admin(current_principal())
        page = await handlers.list_mismatches(
            payments=self._payments,
            provider=request.provider,
            day=request.day,
            page_size=request.page_size,
            page_token=request.page_token,
        )
        return pb.ListReconciliationMismatchesResponse(
            mismatches=page.items, next_page_token=page.next_page_token
        )

    async def RunReconciliation(
        self, request: pb.RunReconciliationRequest, context: Any
    ) -> pb.RunReconciliationResponse:
        """Reconcile a provider's day now."""
        handlers.require_admin(current_principal())
        found = await handlers.reconcile_day(
            payments=self._payments, provider=request.provider, day=request.day
        )
        return pb.RunReconciliationResponse(mismatches=found)

    async def ListLedgerEntries(
        self, request: pb.ListLedgerEntriesRequest, context: Any
    ) -> pb.ListLedgerEntriesResponse:
        """A payment's ledger."""
        entries = await handlers.list_ledger(
            payments=self._payments, payment_id=request.payment_id, principal=current_principal()
        )
        return pb.ListLedgerEntriesResponse(entries=entries)
