"""The demo marketplace's shop roster and ids, shared by the services that seed it.

Shop ids are ``uuid5(SHOP_NAMESPACE, domain)``: the user service (which creates
the shops and their sellers) and the product service (which fills them with
products) derive the same id from the same domain without asking each other.
The demo seed's SKU ids are ``uuid5(SKU_NAMESPACE, shop id / code)`` in the same
way, so the inventory tells the seed's SKUs (which get opening stock) from those
sellers add later (which start with none, as in any shop): ids are assigned by the
product service, so no seller can make one of theirs look like a demo SKU.
The seeds of several services write their part of one credentials file
(``demo-credentials.json``: accounts, OAuth clients) through ``update_demo_credentials``,
which lets seeds running at the same time take turns.
Only ``make up``'s demo marketplace uses this.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "CREDENTIALS_FILE",
    "SHOPS",
    "SHOP_NAMESPACE",
    "SKU_NAMESPACE",
    "DemoShop",
    "demo_shop_id",
    "demo_sku_id",
    "read_demo_credentials",
    "update_demo_credentials",
]

CREDENTIALS_FILE = "demo-credentials.json"

# Never change: it keys every demo shop's id across services.
SHOP_NAMESPACE = uuid.UUID("6f0c2a4e-8d1b-5c3a-9e7f-0a1b2c3d4e5f")
# Never change: it keys every demo SKU's id across services.
SKU_NAMESPACE = uuid.UUID("0b6c1f0e-2d4a-5b7c-8e9f-1a2b3c4d5e6f")


def demo_shop_id(domain: str) -> str:
    """The id of the demo shop with storefront domain ``domain``, the same in every service."""
    return str(uuid.uuid5(SHOP_NAMESPACE, domain))


def demo_sku_id(shop_id: str, code: str) -> str:
    """The id the demo seed gives the SKU ``code`` of demo shop ``shop_id``, the same in every service."""
    return str(uuid.uuid5(SKU_NAMESPACE, f"{shop_id}/{code}"))


@dataclass(frozen=True)
class DemoShop:
    """A demo shop: its storefront domain (``toko.dev/<domain>``), display name and city."""

    domain: str
    name: str
    city: str

    @property
    def id(self) -> str:
        """The shop's id, the same in every service."""
        return demo_shop_id(self.domain)


SHOPS: tuple[DemoShop, ...] = (
    DemoShop("sumber-rejeki", "Toko Sumber Rejeki", "Jakarta Barat"),
    DemoShop("berkah-jaya", "Berkah Jaya Store", "Bandung"),
    DemoShop("maju-makmur", "CV Maju Makmur", "Surabaya"),
    DemoShop("gadget-nusantara", "Gadget Nusantara", "Jakarta Pusat"),
    DemoShop("kaos-kita", "Kaos Kita Official", "Bandung"),
    DemoShop("dapur-bu-sri", "Dapur Bu Sri", "Yogyakarta"),
    DemoShop("sambal-mbok-darmi", "Sambal Mbok Darmi", "Surabaya"),
    DemoShop("rumah-cantik", "Rumah Cantik Beauty", "Medan"),
    DemoShop("sehat-selalu", "Apotek Sehat Selalu", "Semarang"),
    DemoShop("sport-center-id", "Sport Center ID", "Tangerang"),
    DemoShop("bengkel-motor-jaya", "Bengkel Motor Jaya", "Bekasi"),
    DemoShop("si-kecil-shop", "Si Kecil Baby Shop", "Depok"),
    DemoShop("kopi-nusantara", "Kopi Nusantara", "Malang"),
    DemoShop("pustaka-cahaya", "Pustaka Cahaya", "Jakarta Selatan"),
    DemoShop("mainan-ceria", "Mainan Ceria", "Solo"),
    DemoShop("komputer-murah", "Komputer Murah Mangga Dua", "Jakarta Utara"),
    DemoShop("pet-lovers", "Pet Lovers Indonesia", "Denpasar"),
    DemoShop("pesta-meriah", "Pesta Meriah Party Supply", "Makassar"),
    DemoShop("perkakas-pro", "Perkakas Pro", "Batam"),
    DemoShop("musik-asik", "Musik Asik", "Palembang"),
    DemoShop("gamers-den", "Gamers Den", "Bogor"),
    DemoShop("kamera-kita", "Kamera Kita", "Balikpapan"),
    DemoShop("batik-pekalongan", "Batik Pekalongan Asli", "Pekalongan"),
    DemoShop("hijab-syari", "Hijab Syari Collection", "Padang"),
)


def read_demo_credentials(data_dir: Path) -> dict[str, Any]:
    """The demo credentials file's content; empty when it does not exist yet (or is not an object)."""
    try:
        content = json.loads((data_dir / CREDENTIALS_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return content if isinstance(content, dict) else {}


def update_demo_credentials(data_dir: Path, **sections: object) -> Path:
    """Set ``sections`` of the demo credentials file, keeping the others; returns its path.

    The file is replaced atomically and readable by its owner only. Seeds run at the same time
    (``make up`` runs every service's at once), so each takes a lock for its read, change and write:
    otherwise one would write back the file as it was before the other's part.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / CREDENTIALS_FILE
    lock = os.open(data_dir / f".{CREDENTIALS_FILE}.lock", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        content = read_demo_credentials(data_dir) | sections
        descriptor, temporary = tempfile.mkstemp(dir=data_dir, prefix=f".{CREDENTIALS_FILE}.")
        try:
            with os.fdopen(descriptor, "w") as file:
                json.dump(content, file, indent=2, ensure_ascii=False)
                file.write("\n")
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
    finally:
        os.close(lock)  # releases the lock
    return path
