"""Reconciliation: a day's ledger against each provider's settlement report, every disagreement recorded once
for admins (a report stating another amount, money settled that the ledger never heard of)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import grpc
import httpx
import pytest
from payment_testkit import CALLBACK_TOKEN, SERVER_KEY, XENDIT_SECRET_KEY, as_service, as_user, failure
from test_payments import _open, _open_ewallet, _state

from toko.common.v1.money_pb2 import Money
from toko.payment.v1 import payment_pb2 as pb
from toko.payment.v1 import payment_pb2_grpc
from toko.platform.db import Database
from toko.platform.testing_auth import bearer, mint_token
from toko.sandbox.app import RunningSandbox
from toko.services.payment.handlers import WIB, Payments, reconcile_day, reconcile_past_days, refund_payment
from toko.services.payment.provider import Midtrans, Xendit

Stub = payment_pb2_grpc.PaymentServiceStub


def as_admin() -> tuple[tuple[str, str], ...]:
    return (("authorization", bearer(mint_token(sub="admin-1", roles=["admin"]))),)


@pytest.fixture
async def tomorrow(database: Database, sandbox: RunningSandbox) -> AsyncIterator[Payments]:
    """The use cases as the scheduled job runs them tomorrow, when today's reports are out."""
    base = f"http://127.0.0.1:{sandbox.http_port}/payments"
    async with httpx.AsyncClient() as http:
        yield Payments(
            database=database,
            providers={
                "midtrans": Midtrans(http, f"{base}/midtrans", SERVER_KEY),
                # One row a page: a report read across pages, a refund on another page than its payment.
                "xendit": Xendit(http, f"{base}/xendit", XENDIT_SECRET_KEY, CALLBACK_TOKEN, page_size=1),
            },
            clock=lambda: datetime.now(UTC) + timedelta(days=1),
        )


def later(payments: Payments, days: int) -> Payments:
    """The same use cases ``days`` days after ``payments``' clock."""
    return replace(payments, clock=lambda: payments.clock() + timedelta(days=days))


async def test_a_day_is_reconciled_with_each_report_and_every_mismatch_is_recorded_once(
    stub: Stub, provider: httpx.AsyncClient, tomorrow: Payments
) -> None:
    buyer = str(uuid.uuid4())
    agreed, misreported, unheard = [await _open(stub, buyer) for _ in range(3)]
    dana = await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_DANA)
    for payment in (agreed, misreported, dana):
        await provider.post(f"/simulate/{payment.id}", json={"outcome": "pay"})
        await _state(stub, payment.id, buyer)
    await stub.RefundPayment(
        pb.RefundPaymentRequest(
            payment_id=dana.id, refund_id="r1", amount=Money(amount=5_000), reason="retur"
        ),
        metadata=as_service(),
    )
    # The provider settles one whose every notification is lost, and reports another at another amount.
    await provider.post("/faults", json={"drop_notifications": 1_000})
    await provider.post(f"/simulate/{unheard.id}", json={"outcome": "pay"})
    await asyncio.sleep(0.3)
    await provider.post(
        "/faults", json={"drop_notifications": 0, "settlement_adjustments": {misreported.id: 149_000}}
    )
    today = datetime.now(UTC).astimezone(WIB).date().isoformat()

    midtrans = await reconcile_day(payments=tomorrow, provider="midtrans", day=today)
    again = await reconcile_day(payments=tomorrow, provider="midtrans", day=today)
    xendit = await reconcile_day(payments=tomorrow, provider="xendit", day=today)
    listed = await stub.ListReconciliationMismatches(
        pb.ListReconciliationMismatchesRequest(provider="midtrans", day=today, page_size=100),
        metadata=as_admin(),
    )

    ours = {agreed.id, misreported.id, unheard.id}
    found = {
        (m.payment_id, m.kind, m.ledger_amount.amount, m.provider_amount.amount)
        for m in midtrans
        if m.payment_id in ours
    }
    assert found == {
        (misreported.id, pb.MISMATCH_KIND_AMOUNT_DIFFERS, 150_000, 149_000),
        (unheard.id, pb.MISMATCH_KIND_MISSING_IN_LEDGER, 0, 150_000),
    }
    assert [m.id for m in again] == [m.id for m in midtrans]
    assert dana.id not in {m.payment_id for m in xendit}
    assert {m.payment_id for m in listed.mismatches} >= {misreported.id, unheard.id}


async def test_a_payment_made_just_before_midnight_and_heard_of_after_is_reconciled_on_the_providers_day(
    stub: Stub, provider: httpx.AsyncClient, tomorrow: Payments
) -> None:
    buyer = str(uuid.uuid4())
    va, dana = await _open(stub, buyer), await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_DANA)
    # Each paid at the provider half a second before midnight (WIB), their notifications arriving after.
    today = datetime.now(UTC).astimezone(WIB).date()
    before_midnight = datetime.combine(today, datetime.min.time(), tzinfo=WIB) - timedelta(milliseconds=500)
    for payment in (va, dana):
        paid = await provider.post(
            f"/simulate/{payment.id}", json={"outcome": "pay", "settledAt": before_midnight.isoformat()}
        )
        assert paid.status_code == 200, paid.text
        assert (await _state(stub, payment.id, buyer)).state == pb.PAYMENT_STATE_CAPTURED

    flagged = {
        m.payment_id
        for day in (today - timedelta(days=1), today)
        for name in ("midtrans", "xendit")
        for m in await reconcile_day(payments=tomorrow, provider=name, day=day.isoformat())
    }

    # The ledger heard of them today; the providers settled them yesterday: one day, no mismatch.
    assert not {va.id, dana.id} & flagged


async def test_reconciliation_is_for_admins_and_a_bad_day_or_provider_is_refused(stub: Stub) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    future = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()

    by_buyer = await failure(
        stub.ListReconciliationMismatches(pb.ListReconciliationMismatchesRequest(), metadata=as_user())
    )
    by_service = await failure(
        stub.RunReconciliation(
            pb.RunReconciliationRequest(provider="midtrans", day=yesterday), metadata=as_service()
        )
    )
    not_yet = await failure(
        stub.RunReconciliation(
            pb.RunReconciliationRequest(provider="midtrans", day=future), metadata=as_admin()
        )
    )
    unknown = await failure(
        stub.RunReconciliation(
            pb.RunReconciliationRequest(provider="cod", day=yesterday), metadata=as_admin()
        )
    )
    garbled = await failure(
        stub.ListReconciliationMismatches(
            pb.ListReconciliationMismatchesRequest(day="12/03"), metadata=as_admin()
        )
    )
    ran = await stub.RunReconciliation(
        pb.RunReconciliationRequest(provider="xendit", day=yesterday), metadata=as_admin()
    )

    assert by_buyer[0] == by_service[0] == grpc.StatusCode.PERMISSION_DENIED
    assert not_yet == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_DAY")
    assert unknown == (grpc.StatusCode.INVALID_ARGUMENT, "UNKNOWN_PROVIDER")
    assert garbled == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_DAY")
    assert list(ran.mismatches) == []


async def test_a_xendit_refund_made_days_after_its_payment_is_put_to_that_payment(
    stub: Stub, provider: httpx.AsyncClient, sandbox: RunningSandbox, tomorrow: Payments
) -> None:
    buyer = str(uuid.uuid4())
    dana = await _open_ewallet(stub, buyer, pb.PAYMENT_METHOD_DANA)
    await provider.post(f"/simulate/{dana.id}", json={"outcome": "pay"})
    await _state(stub, dana.id, buyer)
    # The buyer sends the goods back the next day: the ledger and Xendit both record the refund then.
    await refund_payment(
        payments=tomorrow, payment_id=dana.id, refund_id="retur", amount=20_000, reason="retur"
    )
    charge = sandbox.charges.get(dana.id)
    assert charge is not None
    charge.refund_times["retur"] += timedelta(days=1)
    # And a charge someone opened on the account outside toko is paid that day.
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{sandbox.http_port}/payments", auth=(XENDIT_SECRET_KEY, "")
    ) as xendit:
        foreign = (
            await xendit.post(
                "/xendit/ewallets/charges",
                json={
                    "reference_id": f"manual-{uuid.uuid4().hex[:8]}",
                    "currency": "IDR",
                    "amount": 12_000,
                    "checkout_method": "ONE_TIME_PAYMENT",
                    "channel_code": "ID_DANA",
                    "channel_properties": {"success_redirect_url": "https://example.com/done"},
                },
            )
        ).json()
    await provider.post("/faults", json={"drop_notifications": 1_000})
    await provider.post(f"/simulate/{foreign['reference_id']}", json={"outcome": "pay"})
    await asyncio.sleep(0.3)
    await provider.post("/faults", json={"drop_notifications": 0})
    paid = sandbox.charges.get(foreign["reference_id"])
    assert paid is not None
    assert paid.settled_at is not None
    paid.settled_at += timedelta(days=1)
    next_day = (datetime.now(UTC) + timedelta(days=1)).astimezone(WIB).date().isoformat()

    found = await reconcile_day(payments=later(tomorrow, 1), provider="xendit", day=next_day)

    assert [(m.payment_id, m.provider_reference, m.kind, m.provider_amount.amount) for m in found] == [
        (foreign["reference_id"], foreign["id"], pb.MISMATCH_KIND_MISSING_IN_LEDGER, 12_000)
    ]


async def test_the_daily_job_reconciles_each_past_day_once_per_provider_and_one_report_down_holds_up_no_other(
    tomorrow: Payments,
) -> None:
    # Days of their own, far ahead, so that no other test ran them.
    later_on = later(tomorrow, 60)
    async with httpx.AsyncClient() as http:
        down = Midtrans(http, "http://127.0.0.1:9/payments/midtrans", SERVER_KEY)
        while_down = await reconcile_past_days(
            replace(later_on, providers={**later_on.providers, "midtrans": down}), 3
        )
    once_back = await reconcile_past_days(later_on, 3)
    again = await reconcile_past_days(later_on, 3)
    next_day = await reconcile_past_days(later(later_on, 1), 3)

    # Xendit's three days while Midtrans' report was out of reach; then Midtrans' three; then nothing;
    # a day later, the new yesterday of each.
    assert (while_down, once_back, again, next_day) == (3, 3, 0, 2)
