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
from payment_testkit import CALLBACK_TOKEN, SERVER_KEY, SUCCESS_REDIRECT_URL, as_service, as_user, failure
from sqlalchemy import text

from toko.common.v1.money_pb2 import Money
from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.db import Database
from toko.platform.service import RunningService
from toko.sandbox.app import RunningSandbox

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


async def test_bad_requests_name_every_field_and_only_services_open_payments(stub: Stub) -> None:
    bad = pb.CreatePaymentRequest(
        checkout_id="", buyer_id="b", amount=Money(amount=0), method=0, expire_time=_in(1)
    )  # type: ignore[arg-type]
    code, reason = await failure(stub.CreatePayment(bad, metadata=as_service()))
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "VALIDATION_FAILED")
    good = pb.CreatePaymentRequest(
        checkout_id=str(uuid.uuid4()),
        buyer_id="b",
        amount=Money(amount=1000),
        method=pb.PAYMENT_METHOD_VA_BNI,
        expire_time=_in(60),
    )
    assert (await failure(stub.CreatePayment(good, metadata=as_user())))[
        0
    ] == grpc.StatusCode.PERMISSION_DENIED
    methods = {
        m.method: m.provider for m in (await stub.ListPaymentMethods(pb.ListPaymentMethodsRequest())).methods
    }
    assert (methods[pb.PAYMENT_METHOD_OVO], methods[pb.PAYMENT_METHOD_COD]) == ("xendit", "cod")


async def test_cash_on_delivery_waits_for_its_courier_and_is_settled_once(stub: Stub) -> None:
    buyer = str(uuid.uuid4())
    cod = await _open(stub, buyer, method=pb.PAYMENT_METHOD_COD)
    va = await _open(stub, buyer)

    settled = await stub.SettleCashOnDelivery(
        pb.SettleCashOnDeliveryRequest(payment_id=cod.id, reference="JNE-AWB-1"), metadata=as_service()
    )
    again = await stub.SettleCashOnDelivery(
        pb.SettleCashOnDeliveryRequest(payment_id=cod.id, reference="JNE-AWB-1"), metadata=as_service()
    )
    not_cod = await failure(
        stub.SettleCashOnDelivery(pb.SettleCashOnDeliveryRequest(payment_id=va.id), metadata=as_service())
    )
    by_buyer = await failure(
        stub.SettleCashOnDelivery(pb.SettleCashOnDeliveryRequest(payment_id=cod.id), metadata=as_user(buyer))
    )
    ledger = (
        await stub.ListLedgerEntries(pb.ListLedgerEntriesRequest(payment_id=cod.id), metadata=as_user(buyer))
    ).entries

    assert cod.state == pb.PAYMENT_STATE_PENDING
    assert cod.provider == "cod"
    # It waits for its parcel, not for a payment deadline.
    assert cod.expire_time.ToDatetime(tzinfo=UTC) > datetime.now(UTC) + timedelta(days=7)
    assert (settled.payment.state, settled.payment.captured.amount) == (pb.PAYMENT_STATE_CAPTURED, 150_000)
    assert again.payment.captured.amount == 150_000
    assert [entry.kind for entry in ledger] == [pb.LEDGER_ENTRY_KIND_CAPTURED]
    assert not_cod == (grpc.StatusCode.FAILED_PRECONDITION, "NOT_CASH_ON_DELIVERY")
    assert by_buyer[0] == grpc.StatusCode.PERMISSION_DENIED


async def _open_ewallet(stub: Stub, buyer: str, method: int, mobile: str = "") -> pb.Payment:
    request = pb.CreatePaymentRequest(
        checkout_id=str(uuid.uuid4()),
        buyer_id=buyer,
        amount=Money(amount=80_000, currency="IDR"),
        method=method,  # type: ignore[arg-type]
        expire_time=_in(60),
        mobile_number=mobile,
    )
    return (await stub.CreatePayment(request, metadata=as_service())).payment


async def test_a_dana_payment_is_paid_by_redirect_and_refunded_in_parts_never_above_it(
    stub: Stub, provider: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    buyer = str(uuid.uuid4())
    payment = await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_DANA)

    paid = await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})
    captured = await _state(stub, payment.id, buyer)
    refunds = [
        await stub.RefundPayment(
            pb.RefundPaymentRequest(
                payment_id=payment.id, refund_id=f"r{n}", amount=Money(amount=30_000), reason="retur sebagian"
            ),
            metadata=as_service(),
        )
        for n in (1, 2)
    ]
    over = await failure(
        stub.RefundPayment(
            pb.RefundPaymentRequest(
                payment_id=payment.id, refund_id="r3", amount=Money(amount=30_000), reason="x"
            ),
            metadata=as_service(),
        )
    )

    assert payment.provider == "xendit"
    assert payment.provider_reference.startswith("ewc_")
    assert payment.instructions.redirect_url.endswith(payment.id)
    # Once paid, DANA sends the buyer back to the shop's page of the payment.
    charge = sandbox.charges.get(payment.id)
    assert charge is not None
    assert charge.success_redirect_url == SUCCESS_REDIRECT_URL.replace("{payment_id}", payment.id)
    assert paid.status_code == 200
    assert (captured.state, captured.captured.amount) == (pb.PAYMENT_STATE_CAPTURED, 80_000)
    assert refunds[-1].payment.refunded.amount == 60_000
    assert over == (grpc.StatusCode.FAILED_PRECONDITION, "REFUND_EXCEEDS_CAPTURED")


async def test_an_ovo_payment_needs_a_phone_and_a_refusal_fails_it(
    stub: Stub, provider: httpx.AsyncClient
) -> None:
    buyer = str(uuid.uuid4())
    no_phone = await failure(_open_ewallet(stub, buyer, pb.PAYMENT_METHOD_OVO, mobile="021-555-0100"))
    payment = await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_OVO, mobile="0812 3456 7890")

    await provider.post(f"/simulate/{payment.id}", json={"outcome": "fail"})
    failed = await _state(stub, payment.id, buyer)

    assert no_phone == (grpc.StatusCode.INVALID_ARGUMENT, "MOBILE_NUMBER_REQUIRED")
    assert payment.state == pb.PAYMENT_STATE_PENDING
    assert not payment.instructions.redirect_url  # OVO pushes the payment to the phone
    assert failed.state == pb.PAYMENT_STATE_FAILED


async def test_xendit_callbacks_need_the_token_count_once_and_are_confirmed_with_xendit(
    stub: Stub, provider: httpx.AsyncClient, settings: object
) -> None:
    buyer = str(uuid.uuid4())
    payment = await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_DANA)
    url = f"http://127.0.0.1:{settings.http_port}/webhooks/payments/xendit"  # type: ignore[attr-defined]

    def callback(status: str) -> bytes:
        data = {"id": payment.provider_reference, "reference_id": payment.id, "status": status}
        return orjson.dumps(
            {"event": "ewallet.capture", "created": datetime.now(UTC).isoformat(), "data": data}
        )

    async with httpx.AsyncClient() as client:
        wrong_token = await client.post(
            url, content=callback("SUCCEEDED"), headers={"x-callback-token": "guess"}
        )
        # The right token, but Xendit says the charge is still pending: nothing moves.
        forged = await client.post(
            url, content=callback("SUCCEEDED"), headers={"x-callback-token": CALLBACK_TOKEN}
        )
        still = (await stub.GetPayment(pb.GetPaymentRequest(id=payment.id), metadata=as_user(buyer))).payment
        await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})
        captured = await _state(stub, payment.id, buyer)
        body = callback("SUCCEEDED")
        first = await client.post(url, content=body, headers={"x-callback-token": CALLBACK_TOKEN})
        replay = await client.post(url, content=body, headers={"x-callback-token": CALLBACK_TOKEN})
    ledger = (
        await stub.ListLedgerEntries(
            pb.ListLedgerEntriesRequest(payment_id=payment.id), metadata=as_user(buyer)
        )
    ).entries

    assert (wrong_token.status_code, wrong_token.json()["reason"]) == (401, "BAD_SIGNATURE")
    assert forged.status_code == 200
    assert still.state == pb.PAYMENT_STATE_PENDING
    assert captured.state == pb.PAYMENT_STATE_CAPTURED
    assert (first.status_code, replay.json()["message"]) == (200, "duplicate")
    assert [entry.kind for entry in ledger] == [pb.LEDGER_ENTRY_KIND_CAPTURED]


async def test_two_xendit_payments_refunded_under_the_same_refund_id_both_give_the_money_back(
    stub: Stub, provider: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    # A refund id is the caller's per payment; Xendit's idempotency keys are the whole account's.
    buyer = str(uuid.uuid4())
    first, second = [await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_DANA) for _ in range(2)]
    for payment in (first, second):
        await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})
        await _state(stub, payment.id, buyer)

    for payment, amount in ((first, 10_000), (second, 25_000)):
        await stub.RefundPayment(
            pb.RefundPaymentRequest(
                payment_id=payment.id, refund_id="retur-1", amount=Money(amount=amount), reason="retur"
            ),
            metadata=as_service(),
        )

    at_xendit = {payment.id: sandbox.charges.get(payment.id) for payment in (first, second)}
    assert {pid: sum(c.refunds.values()) for pid, c in at_xendit.items() if c} == {
        first.id: 10_000,
        second.id: 25_000,
    }
