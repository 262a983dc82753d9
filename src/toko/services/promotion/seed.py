"""The demo marketplace's vouchers: ``python -m toko.services.promotion.seed``.

Three platform vouchers and one voucher for each of the first demo shops, each with a fixed id (a
uuid5 of its code), valid for a year from the first run, so a second run adds nothing:

- ``TOKOHEMAT``: 10 % off, at most Rp 25.000, from a spend of Rp 50.000, five times per buyer;
- ``ONGKIRGRATIS``: shipping paid up to Rp 20.000 from a spend of Rp 30.000, applied by itself;
- ``PEMBELIBARU``: Rp 15.000 off a first order;
- ``<SHOP>10``: 10 % off at one demo shop, at most Rp 10.000, 200 usages in all.

It connects with the service's own settings (``TOKO_DATABASE_URL``, ``TOKO_PROMOTION_DATABASE_NAME``…).
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import uvloop

from toko.platform.clock import utcnow
from toko.platform.db import open_service_database
from toko.platform.demo import SHOPS
from toko.services.promotion.bootstrap import MIGRATIONS
from toko.services.promotion.domain import VoucherDraft, VoucherKind, new_voucher
from toko.services.promotion.handlers import SOURCE
from toko.services.promotion.repository import PromotionRepository
from toko.services.promotion.settings import PromotionSettings

VOUCHER_NAMESPACE = uuid.UUID("5f0c2b8e-3a61-4b8f-9a53-7d1c0e9b4a21")
SHOPS_WITH_VOUCHERS = 6


def demo_drafts() -> list[VoucherDraft]:
    """The demo vouchers, valid for a year from now."""
    now = utcnow()
    start, end = now - timedelta(minutes=1), now + timedelta(days=365)
    drafts = [
        VoucherDraft(
            name="Toko Hemat 10%",
            code="TOKOHEMAT",
            kind=VoucherKind.PERCENTAGE,
            percent_bp=1000,
            amount=25_000,
            min_spend=50_000,
            per_buyer_limit=5,
            start_at=start,
            end_at=end,
        ),
        VoucherDraft(
            name="Gratis Ongkir",
            code="ONGKIRGRATIS",
            kind=VoucherKind.FREE_SHIPPING,
            amount=20_000,
            min_spend=30_000,
            auto_apply=True,
            start_at=start,
            end_at=end,
        ),
        VoucherDraft(
            name="Pembeli Baru Rp 15.000",
            code="PEMBELIBARU",
            kind=VoucherKind.FIXED_AMOUNT,
            amount=15_000,
            new_buyers_only=True,
            per_buyer_limit=1,
            start_at=start,
            end_at=end,
        ),
    ]
    for shop in SHOPS[:SHOPS_WITH_VOUCHERS]:
        letters = re.sub(r"[^A-Z0-9]", "", shop.domain.upper())[:12]
        drafts.append(
            VoucherDraft(
                name=f"{shop.name} 10%",
                code=f"{letters}10",
                shop_id=shop.id,
                kind=VoucherKind.PERCENTAGE,
                percent_bp=1000,
                amount=10_000,
                total_limit=200,
                start_at=start,
                end_at=end,
            )
        )
    return drafts


async def seed(settings: PromotionSettings) -> int:
    """Create the demo vouchers that are missing; returns how many demo vouchers there are."""
    database = await open_service_database(settings, MIGRATIONS)
    drafts = demo_drafts()
    try:
        async with database.unit_of_work(SOURCE) as uow:
            repository = PromotionRepository(uow.session)
            for draft in drafts:
                voucher_id = str(uuid.uuid5(VOUCHER_NAMESPACE, draft.code))
                if await repository.get(voucher_id) is None:
                    await repository.add(new_voucher(draft, voucher_id=voucher_id, now=utcnow()))
            await uow.commit()
    finally:
        await database.dispose()
    return len(drafts)


def main() -> None:
    """Seed with the environment's settings."""
    count = uvloop.run(seed(PromotionSettings()))
    print(f"promotion: {count} demo vouchers")


if __name__ == "__main__":
    main()
