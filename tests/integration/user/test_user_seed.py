"""The demo accounts seed: the accounts and shops exist, credentials work, and a second run adds nothing."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

from sqlalchemy import func, select
from user_testkit import user_settings

from toko.infra.servers import InfraEndpoints
from toko.platform.db import Database, service_database_url
from toko.platform.demo import SHOPS
from toko.services.user.bootstrap import build_users
from toko.services.user.handlers.accounts import verify_credentials
from toko.services.user.repository.tables import shops, users
from toko.services.user.seed import seed


async def test_seeding_twice_creates_the_demo_accounts_once(
    infrastructure: InfraEndpoints, tmp_path: Path
) -> None:
    settings = user_settings(infrastructure, f"seed_{uuid.uuid4().hex[:8]}", TOKO_DATA_DIR=str(tmp_path))
    (tmp_path / "demo-credentials.json").write_text(json.dumps({"clients": [{"client_id": "storefront"}]}))

    first = await seed(settings)
    second = await seed(settings)

    credentials = json.loads((tmp_path / "demo-credentials.json").read_text())
    accounts = {a["email"]: a for a in credentials["accounts"]}
    database = Database(service_database_url(settings.database_url, settings.database_name), pool_size=2)
    try:
        async with database.sessions() as session:
            user_count = (await session.execute(select(func.count()).select_from(users))).scalar_one()
            shop_ids = set((await session.execute(select(shops.c.id))).scalars())
        admin = accounts["admin@toko.test"]
        seller = accounts[f"penjual.{SHOPS[0].domain}@toko.test"]
        checks = build_users(settings, database)
        admin_login = await verify_credentials(users=checks, email=admin["email"], password=admin["password"])
        seller_login = await verify_credentials(
            users=checks, email=seller["email"], password=seller["password"]
        )
    finally:
        await database.dispose()

    assert (first.accounts_created, first.shops_opened) == (1 + 5 + len(SHOPS), len(SHOPS))
    assert (second.accounts_created, second.shops_opened) == (0, 0)
    assert user_count == 1 + 5 + len(SHOPS)
    assert shop_ids == {shop.id for shop in SHOPS}
    assert {f"pembeli{n}@toko.test" for n in range(1, 6)} <= accounts.keys()
    assert list(admin_login.roles) == ["buyer", "admin"]
    assert (list(seller_login.roles), seller_login.shop_id) == (["buyer", "seller"], SHOPS[0].id)
    assert admin_login.email_verified
    assert credentials["clients"] == [{"client_id": "storefront"}]
    assert stat.S_IMODE((tmp_path / "demo-credentials.json").stat().st_mode) == 0o600
    assert first.accounts == second.accounts
