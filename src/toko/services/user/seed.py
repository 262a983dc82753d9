"""The demo accounts: ``python -m toko.services.user.seed``.

Creates, unless they exist already:

- an admin, ``admin@toko.test``;
- five buyers, ``pembeli1@toko.test`` … ``pembeli5@toko.test``, each with a home address;
- one seller per demo shop, ``penjual.<domain>@toko.test``, owning that shop under the
  same id the product service's demo products carry (``toko.platform.demo``).

Every account's email is verified. Passwords are not in the code: each is derived
from a random secret kept in the data directory (``user-seed.secret``, mode 0600),
so they differ between installations but stay the same across runs of one. They
are written to ``<TOKO_DATA_DIR>/demo-credentials.json`` (mode 0600, key
``"accounts"``; other keys, such as the auth seed's ``"clients"``, are kept).
Everything goes through the use cases, so the rules hold and events flow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import uvloop

from toko.platform.auth import Principal
from toko.platform.db import open_service_database
from toko.platform.demo import CREDENTIALS_FILE, SHOPS, DemoShop, update_demo_credentials
from toko.services.user.bootstrap import MIGRATIONS, build_users
from toko.services.user.domain import AddressFields
from toko.services.user.handlers import Users, accounts, addresses, shops
from toko.services.user.repository.accounts import AccountRepository
from toko.services.user.repository.shops import ShopRepository
from toko.services.user.settings import UserSettings

ADMIN_EMAIL = "admin@toko.test"
BUYERS: tuple[tuple[str, str, AddressFields], ...] = (
    (
        "Budi Santoso",
        "+6281234567001",
        AddressFields(
            "Rumah",
            "Budi Santoso",
            "+6281234567001",
            "DKI Jakarta",
            "Jakarta Selatan",
            "Kebayoran Baru",
            "Senayan",
            "12190",
            "Jl. Asia Afrika No. 8",
        ),
    ),
    (
        "Siti Rahayu",
        "+6281234567002",
        AddressFields(
            "Rumah",
            "Siti Rahayu",
            "+6281234567002",
            "Jawa Barat",
            "Kota Bandung",
            "Coblong",
            "Dago",
            "40135",
            "Jl. Ir. H. Juanda No. 102",
        ),
    ),
    (
        "Agus Wijaya",
        "+6281234567003",
        AddressFields(
            "Kantor",
            "Agus Wijaya",
            "+6281234567003",
            "Jawa Timur",
            "Kota Surabaya",
            "Genteng",
            "Embong Kaliasin",
            "60271",
            "Jl. Pemuda No. 31",
        ),
    ),
    (
        "Dewi Lestari",
        "+6281234567004",
        AddressFields(
            "Rumah",
            "Dewi Lestari",
            "+6281234567004",
            "DI Yogyakarta",
            "Kota Yogyakarta",
            "Gondokusuman",
            "Terban",
            "55223",
            "Jl. C. Simanjuntak No. 70",
        ),
    ),
    (
        "Rina Kurniawati",
        "+6281234567005",
        AddressFields(
            "Rumah",
            "Rina Kurniawati",
            "+6281234567005",
            "Bali",
            "Kota Denpasar",
            "Denpasar Timur",
            "Sumerta",
            "80236",
            "Jl. Hayam Wuruk No. 15",
        ),
    ),
)
SECRET_FILE = "user-seed.secret"  # noqa: S105 - a file name


@dataclass(frozen=True)
class DemoAccount:
    """A demo account to create: who, as what, and (for sellers) which shop."""

    email: str
    name: str
    role: str
    phone: str = ""
    address: AddressFields | None = None
    shop: DemoShop | None = None


@dataclass(frozen=True)
class SeedReport:
    """What a seed run did."""

    accounts_created: int
    shops_opened: int
    accounts: list[dict[str, str]]
    seconds: float


def demo_accounts() -> list[DemoAccount]:
    """Every demo account, the same on every call."""
    found = [DemoAccount(ADMIN_EMAIL, "Admin Toko", "admin")]
    found += [
        DemoAccount(f"pembeli{n}@toko.test", name, "buyer", phone, address)
        for n, (name, phone, address) in enumerate(BUYERS, start=1)
    ]
    found += [
        DemoAccount(f"penjual.{shop.domain}@toko.test", f"Penjual {shop.name}", "seller", shop=shop)
        for shop in SHOPS
    ]
    return found


def _secret(data_dir: Path) -> bytes:
    """This installation's seed secret, created on first use."""
    path = data_dir / SECRET_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def demo_password(secret: bytes, email: str) -> str:
    """The password of a demo account: four groups of four, e.g. ``k3vq-7mxa-…``, never a common one."""
    digest = hmac.new(secret, email.encode(), hashlib.sha256).digest()
    letters = base64.b32encode(digest).decode().lower()[:16]
    return "-".join(letters[i : i + 4] for i in range(0, 16, 4))


async def _ensure_account(users: Users, account: DemoAccount, password: str) -> tuple[str, bool]:
    """The account's id, creating it when missing; whether it was created."""
    async with users.database.sessions() as session:
        found = await AccountRepository(session).get_credentials(account.email)
    if found is not None:
        return found.user.id, False
    command = accounts.SignUp(
        email=account.email,
        password=password,
        name=account.name,
        phone=account.phone,
        email_verified=True,
        is_admin=account.role == "admin",
    )
    user = await accounts.sign_up(users=users, command=command, principal=Principal(subject="seed"))
    if account.address is not None:
        await addresses.create_address(
            users=users, user_id=user.id, fields=account.address, principal=Principal(subject=user.id)
        )
    return user.id, True


async def _ensure_shop(users: Users, shop: DemoShop, owner_id: str) -> bool:
    """Open the demo shop for its seller unless it exists; whether it was opened."""
    async with users.database.sessions() as session:
        if await ShopRepository(session).get_shop(shop.id) is not None:
            return False
    command = shops.OpenShop(
        name=shop.name,
        domain=shop.domain,
        description=f"{shop.name}: toko demo dari {shop.city}. Barang original, kirim setiap hari kerja.",
        origin_city=shop.city,
        shop_id=shop.id,
    )
    await shops.open_shop(users=users, command=command, principal=Principal(subject=owner_id))
    return True


async def seed(settings: UserSettings) -> SeedReport:
    """Create whatever of the demo accounts and shops is missing, and write their credentials."""
    started = time.perf_counter()
    secret = _secret(settings.data_dir)
    database = await open_service_database(settings, MIGRATIONS)
    users = build_users(settings, database)
    created = opened = 0
    written: list[dict[str, str]] = []
    try:
        for account in demo_accounts():
            password = demo_password(secret, account.email)
            user_id, new = await _ensure_account(users, account, password)
            created += new
            entry = {"email": account.email, "password": password, "role": account.role, "user_id": user_id}
            if account.shop is not None:
                opened += await _ensure_shop(users, account.shop, user_id)
                entry |= {"shop_id": account.shop.id, "shop_domain": account.shop.domain}
            written.append(entry)
    finally:
        await database.dispose()
    update_demo_credentials(settings.data_dir, accounts=written)
    return SeedReport(created, opened, written, time.perf_counter() - started)


def main() -> None:
    """Seed the demo accounts and say what was done."""
    settings = UserSettings()
    report = uvloop.run(seed(settings))
    print(
        f"user seed: {report.accounts_created} accounts created and {report.shops_opened} shops opened "
        f"({len(report.accounts)} demo accounts) in {report.seconds:.1f}s; "
        f"credentials in {settings.data_dir / CREDENTIALS_FILE}"
    )


if __name__ == "__main__":
    main()
