"""The demo marketplace's shop roster and ids, shared by the services that seed it.

Shop ids are ``uuid5(SHOP_NAMESPACE, domain)``: the user service (which creates
the shops and their sellers) and the product service (which fills them with
products) derive the same id from the same domain without asking each other.
The demo seed's SKU ids are ``uuid5(SKU_NAMESPACE, shop id / code)`` in the same
way, so the inventory tells the seed's SKUs (which get opening stock) from those
sellers add later (which start with none, as in any shop): ids are assigned by the
product service, so no seller can make one of theirs look like a demo SKU.
Only ``make up``'s demo marketplace uses this.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

__all__ = ["SHOPS", "SHOP_NAMESPACE", "SKU_NAMESPACE", "DemoShop", "demo_shop_id", "demo_sku_id"]

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
