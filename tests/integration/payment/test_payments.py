"""Payments through the real payment service and the sandbox's stand-in provider: opening, the
provider's notifications (verified, stored once, confirmed), the ledger, refunds under races."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import orjson
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from payment_testkit import SERVER_KEY, as_service, as_user, failure
from sqlalchemy import text

from toko.common.v1.money_pb2 import Money
from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.db import Database
from toko.platform.service import RunningService

Stub = payment_pb2_grpc.PaymentServiceStub


def _in(minutes: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + timedelta(minutes=minutes))
    return stamp


async def _open(
    stub: Stub, buyer: str, amount: int = 150_000, method: int = pb.PAYMENT_METHOD_VA_BCA
) -> pb.Payment:
    request = pb.CreatePaymentRequest(
        checkout_id=str(uuid.uuid4()),
        buyer_id=buyer,
        amount=Money(amount=amount, currency="IDR"),
        method=method,  # type: ignore[arg-type]
        expire_time=_in(60),
        description="toko test",
    )
    return (await stub.CreatePayment(request, metadata=as_service())).payment


async def _state(
    stub: Stub, payment_id: str, buyer: str, *, not_: int = pb.PAYMENT_STATE_PENDING
) -> pb.Payment:
    for _ in range(100):
        seen = (await stub.GetPayment(pb.GetPaymentRequest(id=payment_id), metadata=as_user(buyer))).payment
        if seen.state != not_:
            return seen
        await asyncio.sleep(0.05)
    return seen


def _notification(
    payment: pb.Payment, *, key: str = SERVER_KEY, status: str = "settlement", at: datetime | None = None
) -> bytes:
    amount = f"{payment.amount.amount}.00"
    moment = (at or datetime.now(UTC)).astimezone(UTC) + timedelta(hours=7)
    return orjson.dumps(
        {
            "order_id": payment.id,
            "status_code": "200",
            "gross_amount": amount,
            "transaction_status": status,
            "transaction_time": moment.strftime("%Y-%m-%d %H:%M:%S"),
            "signature_key": hashlib.sha512(f"{payment.id}200{amount}{key}".encode()).hexdigest(),
        }
    )


async def test_a_va_payment_opens_once_per_checkout_and_its_payment_is_captured_in_the_ledger(
    stub: Stub, provider: httpx.AsyncClient, database: Database
) -> None:
    buyer = str(uuid.uuid4())
    payment = await _open(stub, buyer)
    assert payment.state == pb.PAYMENT_STATE_PENDING
    assert payment.instructions.va_number
    assert payment.instructions.pay_page_url.endswith(payment.id)
    again = pb.CreatePaymentRequest(
        checkout_id=payment.checkout_id,
        buyer_id=buyer,
        amount=payment.amount,
        method=payment.method,
        expire_time=_in(60),
    )
    assert (await stub.CreatePayment(again, metadata=as_service())).payment.id == payment.id

    page = await provider.post(f"/pay/{payment.id}", data={"outcome": "pay"})
    assert page.status_code == 200

    paid = await _state(stub, payment.id, buyer)
    assert paid.state == pb.PAYMENT_STATE_CAPTURED
    assert paid.captured.amount == 150_000
    ledger = (
        await stub.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(payment_id=payment.id), metadata=as_user(buyer)
        )
    ).entries
    assert [entry.kind for entry in ledger] == [pb.LEDGER_ENTRY_KIND_CAPTURED]
    # The ledger cannot be rewritten, whatever the code does.
    async with database.sessions() as session:
        with pytest.raises(Exception, match="append-only"):
            await session.execute(text("UPDATE ledger_entries SET amount = 1"))


async def test_a_qris_payment_comes_with_its_qr_code(stub: Stub) -> None:
    payment = await _open(stub, str(uuid.uuid4()), method=pb.PAYMENT_METHOD_QRIS)
    assert payment.instructions.qr_string
    assert payment.instructions.qr_png_base64


async def test_notifications_forged_stale_or_replayed_change_nothing(
    stub: Stub, service: RunningService, provider: httpx.AsyncClient, settings: object
) -> None:
    buyer = str(uuid.uuid4())
    payment = await _open(stub, buyer)
    url = f"http://127.0.0.1:{settings.http_port}/webhooks/payments/midtrans"  # type: ignore[attr-defined]
    async with httpx.AsyncClient() as client:
        forged = await client.post(url, content=_notification(payment, key="guessed"))
        stale = await client.post(
            url, content=_notification(payment, at=datetime.now(UTC) - timedelta(days=4))
        )
        # Well signed, but the provider says the transaction is still pending: nothing moves.
        early = await client.post(url, content=_notification(payment))
        assert (forged.status_code, forged.json()["reason"]) == (401, "BAD_SIGNATURE")
        assert (stale.status_code, stale.json()["reason"]) == (401, "STALE_NOTIFICATION")
        assert early.status_code == 200
        assert (await _state(stub, payment.id, buyer, not_=-1)).state == pb.PAYMENT_STATE_PENDING
        await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})
        assert (await _state(stub, payment.id, buyer)).state == pb.PAYMENT_STATE_CAPTURED
        # A replay of a notification taken before is answered and changes nothing.
        replay = await client.post(url, content=_notification(payment))
        again = await client.post(url, content=_notification(payment))
        assert replay.status_code == again.status_code == 200
        assert again.json()["message"] == "duplicate"
        bad = await client.post(url, content=b"{not json")
        assert bad.status_code == 400
    ledger = (
        await stub.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(payment_id=payment.id), metadata=as_user(buyer)
        )
    ).entries
    assert len(ledger) == 1


async def test_refunds_are_idempotent_and_never_above_what_was_captured_however_they_race(
    stub: Stub, provider: httpx.AsyncClient
) -> None:
    buyer = str(uuid.uuid4())
    payment = await _open(stub, buyer, amount=100_000)
    await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})
    assert (await _state(stub, payment.id, buyer)).state == pb.PAYMENT_STATE_CAPTURED

    def refund(refund_id: str, amount: int) -> pb.RefundPaymentRequest:
        return pb.RefundPaymentRequest(
            payment_id=payment.id,
            refund_id=refund_id,
            amount=Money(amount=amount, currency="IDR"),
            reason="rusak",
        )

    first = await stub.RefundPayment(refund("r-1", 30_000), metadata=as_service())
    retry = await stub.RefundPayment(refund("r-1", 30_000), metadata=as_service())
    assert first.refund.id == retry.refund.id
    assert retry.payment.refunded.amount == 30_000
    assert await failure(stub.RefundPayment(refund("r-1", 10_000), metadata=as_service())) == (
        grpc.StatusCode.ABORTED,
        "REFUND_ID_REUSED",
    )
    # Eight refunds of 20,000 race for the 70,000 left: three go through, the others are refused.
    results = await asyncio.gather(
        *(stub.RefundPayment(refund(f"race-{n}", 20_000), metadata=as_service()) for n in range(8)),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(results) - len(refused) == 3
    assert {e.code() for e in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    final = await _state(stub, payment.id, buyer, not_=-1)
    assert (final.captured.amount, final.refunded.amount) == (100_000, 90_000)
    # Only services and admins refund; a buyer cannot, nor see another's payment.
    assert (await failure(stub.RefundPayment(refund("x", 1), metadata=as_user(buyer))))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED
    assert (await failure(stub.GetPayment(pb.GetPaymentRequest(id=payment.id), metadata=as_user())))[
        1
    ] == "PAYMENT_NOT_FOUND"


async def test_a_cancelled_payment_cannot_be_paid_and_a_captured_one_cannot_be_cancelled(
    stub: Stub, provider: httpx.AsyncClient
) -> None:
    buyer = str(uuid.uuid4())
    payment = await _open(stub, buyer)
    cancelled = await stub.CancelPayment(
        pb.CancelPaymentRequest(id=payment.id, reason="checkout gave up"), metadata=as_service()
    )
    assert cancelled.payment.state == pb.PAYMENT_STATE_CANCELLED
    assert (await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})).status_code == 412

    paid = await _open(stub, buyer)
    await provider.post(f"/simulate/{paid.id}", json={"outcome": "pay"})
    assert (await _state(stub, paid.id, buyer)).state == pb.PAYMENT_STATE_CAPTURED
    assert await failure(stub.CancelPayment(pb.CancelPaymentRequest(id=paid.id), metadata=as_service())) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "PAYMENT_ALREADY_CAPTURED",
    )


async def test_bad_requests_name_every_field_and_cod_is_not_offered(stub: Stub) -> None:
    bad = pb.CreatePaymentRequest(
        checkout_id="", buyer_id="b", amount=Money(amount=0), method=0, expire_time=_in(1)
    )  # type: ignore[arg-type]
    code, reason = await failure(stub.CreatePayment(bad, metadata=as_service()))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED")
    cod = pb.CreatePaymentRequest(
        checkout_id=str(uuid.uuid4()),
        buyer_id="b",
        amount=Money(amount=1000),
        method=pb.PAYMENT_METHOD_COD,
        expire_time=_in(60),
    )
    assert (await failure(stub.CreatePayment(cod, metadata=as_service())))[
        1
    ] == "PAYMENT_METHOD_NOT_AVAILABLE"
    methods = (await stub.ListPaymentMethods(pb.ListPaymentMethodsRequest())).methods
    assert pb.PAYMENT_METHOD_COD not in {m.method for m in methods}
    assert (await failure(stub.CreatePayment(cod, metadata=as_user())))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED
