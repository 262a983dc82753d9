"""Vouchers on the real servers: making them, applying them, and holding their usages under races."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from promotion_testkit import Eventually, as_admin, as_seller, as_service, as_user, failure

from toko.common.v1.money_pb2 import Money
from toko.promotion.v1 import promotion_pb2 as pb
from toko.promotion.v1.promotion_pb2_grpc import PromotionServiceStub

Stub = PromotionServiceStub


def stamp(moment: datetime) -> Timestamp:
    value = Timestamp()
    value.FromDatetime(moment)
    return value


def rupiah(amount: int) -> Money:
    return Money(amount=amount, currency="IDR")


def code() -> str:
    return f"T{uuid.uuid4().hex[:10].upper()}"


def percent_off(shop_id: str = "", **fields: object) -> pb.Voucher:
    now = datetime.now(UTC)
    voucher = pb.Voucher(
        name="Diskon 10%",
        code=code(),
        shop_id=shop_id,
        kind=pb.VOUCHER_KIND_PERCENTAGE,
        percent_bp=1000,
        amount=rupiah(50_000),
        start_time=stamp(now - timedelta(minutes=1)),
        end_time=stamp(now + timedelta(days=1)),
    )
    for name, value in fields.items():
        if isinstance(value, Money | Timestamp):
            getattr(voucher, name).CopyFrom(value)
        elif isinstance(value, list):
            getattr(voucher, name).extend(value)
        else:
            setattr(voucher, name, value)
    return voucher


async def create(
    stub: Stub, voucher: pb.Voucher, metadata: tuple[tuple[str, str], ...] | None = None
) -> pb.Voucher:
    answer = await stub.CreateVoucher(
        pb.CreateVoucherRequest(voucher=voucher), metadata=metadata or as_admin()
    )
    return answer.voucher


def line(shop_id: str, total: int) -> pb.CheckoutLine:
    return pb.CheckoutLine(sku_id=str(uuid.uuid4()), shop_id=shop_id, quantity=1, line_total=rupiah(total))


async def hold(
    stub: Stub, voucher_ids: list[str], *, buyer: str = "", checkout: str = "", seconds: float = 900
) -> pb.HoldVoucherUsagesResponse:
    return await stub.HoldVoucherUsages(
        pb.HoldVoucherUsagesRequest(
            checkout_id=checkout or str(uuid.uuid4()),
            buyer_id=buyer or str(uuid.uuid4()),
            voucher_ids=voucher_ids,
            expire_time=stamp(datetime.now(UTC) + timedelta(seconds=seconds)),
        ),
        metadata=as_service(),
    )


async def counts(stub: Stub, voucher_id: str) -> tuple[int, int]:
    voucher = (await stub.GetVoucher(pb.GetVoucherRequest(id=voucher_id), metadata=as_admin())).voucher
    return voucher.held_count, voucher.redeemed_count


async def test_a_seller_makes_vouchers_for_their_own_shop_only_and_platform_vouchers_are_for_admins(
    stub: Stub,
) -> None:
    shop, other = str(uuid.uuid4()), str(uuid.uuid4())

    made = await create(stub, percent_off(shop), as_seller(shop))
    other_shops = await failure(
        stub.CreateVoucher(pb.CreateVoucherRequest(voucher=percent_off(other)), metadata=as_seller(shop))
    )
    platform = await failure(
        stub.CreateVoucher(pb.CreateVoucherRequest(voucher=percent_off()), metadata=as_seller(shop))
    )

    assert (made.shop_id, made.percent_bp, made.held_count) == (shop, 1000, 0)
    assert other_shops[:2] == (grpc.StatusCode.PERMISSION_DENIED, "NOT_SHOP_OWNER")
    assert platform[:2] == (grpc.StatusCode.PERMISSION_DENIED, "PLATFORM_VOUCHER_ADMIN_ONLY")
    stranger = await failure(stub.GetVoucher(pb.GetVoucherRequest(id=made.id), metadata=as_seller(other)))
    assert stranger[:2] == (grpc.StatusCode.NOT_FOUND, "VOUCHER_NOT_FOUND")


async def test_a_taken_code_a_retry_and_a_broken_voucher_each_get_their_answer(stub: Stub) -> None:
    first = await create(stub, percent_off())
    taken = await failure(
        stub.CreateVoucher(
            pb.CreateVoucherRequest(voucher=percent_off(code=first.code.lower())), metadata=as_admin()
        )
    )
    broken = percent_off(percent_bp=0, total_limit=-1, eligible_sku_ids=["nope"], code="x")
    refused = await failure(stub.CreateVoucher(pb.CreateVoucherRequest(voucher=broken), metadata=as_admin()))
    key = (("idempotency-key", str(uuid.uuid4())),)
    admin = as_admin()
    retried = percent_off()
    once = await stub.CreateVoucher(pb.CreateVoucherRequest(voucher=retried), metadata=admin + key)
    twice = await stub.CreateVoucher(pb.CreateVoucherRequest(voucher=retried), metadata=admin + key)

    assert taken[:2] == (grpc.StatusCode.ALREADY_EXISTS, "VOUCHER_CODE_TAKEN")
    assert refused[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert set(refused[2]) == {
        "voucher.code",
        "voucher.percent_bp",
        "voucher.total_limit",
        "voucher.eligible_sku_ids[0]",
    }
    assert once.voucher.id == twice.voucher.id


async def test_apply_gives_the_discount_split_over_lines_and_says_why_others_do_not_apply(stub: Stub) -> None:
    shop = str(uuid.uuid4())
    voucher = await create(stub, percent_off(min_spend=rupiah(100_000)))
    lines = [line(shop, 150_000), line(shop, 50_000)]

    answer = await stub.ApplyVouchers(
        pb.ApplyVouchersRequest(lines=lines, vouchers=[voucher.code.lower(), "TIDAKADA"]), metadata=as_user()
    )
    short = await stub.ApplyVouchers(
        pb.ApplyVouchersRequest(lines=[line(shop, 60_000)], vouchers=[voucher.code]), metadata=as_user()
    )

    [applied] = answer.applied
    assert applied.discount.amount == 20_000
    assert sorted(part.amount.amount for part in applied.line_discounts) == [5_000, 15_000]
    assert [(r.requested, r.reason) for r in answer.refused] == [("TIDAKADA", "VOUCHER_NOT_FOUND")]
    assert [r.reason for r in short.refused] == ["VOUCHER_MIN_SPEND_NOT_MET"]


async def test_the_last_usage_goes_to_exactly_one_of_many_racing_checkouts(stub: Stub) -> None:
    voucher = await create(stub, percent_off(total_limit=1))

    results = await asyncio.gather(*(hold(stub, [voucher.id]) for _ in range(20)), return_exceptions=True)

    won = [r for r in results if isinstance(r, pb.HoldVoucherUsagesResponse)]
    lost = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1
    assert len(lost) == 19
    assert {error.code() for error in lost} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert await counts(stub, voucher.id) == (1, 0)


async def test_one_buyer_racing_checkouts_gets_no_more_than_the_per_buyer_limit(stub: Stub) -> None:
    voucher = await create(stub, percent_off(total_limit=100, per_buyer_limit=2))
    buyer = str(uuid.uuid4())

    results = await asyncio.gather(
        *(hold(stub, [voucher.id], buyer=buyer) for _ in range(10)), return_exceptions=True
    )

    assert sum(isinstance(r, pb.HoldVoucherUsagesResponse) for r in results) == 2
    assert await counts(stub, voucher.id) == (2, 0)


async def test_holding_is_all_or_nothing_and_idempotent_per_checkout(stub: Stub) -> None:
    free = await create(stub, percent_off())
    used_up = await create(stub, percent_off(total_limit=1))
    await hold(stub, [used_up.id])
    checkout = str(uuid.uuid4())
    buyer = str(uuid.uuid4())

    code, reason, _ = await failure(hold(stub, [free.id, used_up.id], checkout=checkout, buyer=buyer))
    first = await hold(stub, [free.id], checkout=checkout, buyer=buyer)
    again = await hold(stub, [free.id], checkout=checkout, buyer=buyer)
    other = await failure(hold(stub, [used_up.id], checkout=checkout, buyer=buyer))

    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_USED_UP")
    assert [u.voucher_id for u in first.usages] == [u.voucher_id for u in again.usages] == [free.id]
    assert other[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "CHECKOUT_ALREADY_HELD")
    assert await counts(stub, free.id) == (1, 0)


async def test_redeemed_usages_count_for_good_and_released_ones_free_the_voucher(stub: Stub) -> None:
    voucher = await create(stub, percent_off(total_limit=1))
    paid, cancelled = str(uuid.uuid4()), str(uuid.uuid4())

    await hold(stub, [voucher.id], checkout=cancelled)
    await stub.ReleaseVoucherUsages(
        pb.ReleaseVoucherUsagesRequest(checkout_id=cancelled), metadata=as_service()
    )
    await stub.ReleaseVoucherUsages(
        pb.ReleaseVoucherUsagesRequest(checkout_id=cancelled), metadata=as_service()
    )
    assert await counts(stub, voucher.id) == (0, 0)

    await hold(stub, [voucher.id], checkout=paid)
    redeemed = await stub.RedeemVoucherUsages(
        pb.RedeemVoucherUsagesRequest(checkout_id=paid), metadata=as_service()
    )
    await stub.RedeemVoucherUsages(pb.RedeemVoucherUsagesRequest(checkout_id=paid), metadata=as_service())
    await stub.ReleaseVoucherUsages(pb.ReleaseVoucherUsagesRequest(checkout_id=paid), metadata=as_service())
    late = await failure(
        stub.RedeemVoucherUsages(pb.RedeemVoucherUsagesRequest(checkout_id=cancelled), metadata=as_service())
    )

    assert [u.state for u in redeemed.usages] == [pb.USAGE_STATE_REDEEMED]
    assert await counts(stub, voucher.id) == (0, 1)
    assert late[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "USAGE_RELEASED")


async def test_a_hold_lapses_at_its_expiry_and_its_usage_comes_back(
    stub: Stub, eventually: Eventually
) -> None:
    voucher = await create(stub, percent_off(total_limit=1))
    checkout = str(uuid.uuid4())

    await hold(stub, [voucher.id], checkout=checkout, seconds=1)

    async def released() -> bool:
        return await counts(stub, voucher.id) == (0, 0)

    await eventually(released, within=15)
    code, reason, _ = await failure(
        stub.RedeemVoucherUsages(pb.RedeemVoucherUsagesRequest(checkout_id=checkout), metadata=as_service())
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "USAGE_RELEASED")
    assert len((await hold(stub, [voucher.id])).usages) == 1


async def test_an_ended_voucher_is_no_longer_listed_or_held(stub: Stub) -> None:
    shop = str(uuid.uuid4())
    voucher = await create(stub, percent_off(shop), as_seller(shop))
    listed = await stub.ListVouchers(pb.ListVouchersRequest(shop_id=shop, page_size=100))
    assert voucher.id in [v.id for v in listed.vouchers]

    ended = await stub.EndVoucher(pb.EndVoucherRequest(id=voucher.id), metadata=as_seller(shop))
    refused = await failure(hold(stub, [voucher.id]))
    listed_after = await stub.ListVouchers(pb.ListVouchersRequest(shop_id=shop, page_size=100))

    assert ended.voucher.HasField("ended_time")
    assert refused[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "VOUCHER_EXPIRED")
    assert voucher.id not in [v.id for v in listed_after.vouchers]


async def test_buyers_cannot_hold_usages_and_bad_holds_name_their_fields(stub: Stub) -> None:
    request = pb.HoldVoucherUsagesRequest(checkout_id="c", buyer_id="b", voucher_ids=["v"])

    as_buyer = await failure(stub.HoldVoucherUsages(request, metadata=as_user()))
    bad = await failure(stub.HoldVoucherUsages(request, metadata=as_service()))

    assert as_buyer[0] == grpc.StatusCode.PERMISSION_DENIED
    assert bad[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert set(bad[2]) == {"buyer_id", "voucher_ids[0]", "expire_time"}
