"""What the stand-in couriers charge and promise: deterministic from the cities and the weight.

A route's zone is the closest of: the same city, the same province, the same island, another
island (an unknown city counts as another island). Each service prices a zone per kilogram,
times its courier's own factor, rounded to Rp 500; some services do not serve some zones (the
instant and same-day ones serve one city only) and cash on delivery stops at the island's shore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum


class Zone(IntEnum):
    """How far apart two cities are, nearest first."""

    CITY = 0
    PROVINCE = 1
    ISLAND = 2
    OTHER_ISLAND = 3


# City or regency -> (province, island): enough of Indonesia for the demo and the tests.
_CITIES: dict[str, tuple[str, str]] = {
    "jakarta pusat": ("dki jakarta", "jawa"),
    "jakarta selatan": ("dki jakarta", "jawa"),
    "jakarta barat": ("dki jakarta", "jawa"),
    "jakarta timur": ("dki jakarta", "jawa"),
    "jakarta utara": ("dki jakarta", "jawa"),
    "bandung": ("jawa barat", "jawa"),
    "bekasi": ("jawa barat", "jawa"),
    "bogor": ("jawa barat", "jawa"),
    "depok": ("jawa barat", "jawa"),
    "cimahi": ("jawa barat", "jawa"),
    "tangerang": ("banten", "jawa"),
    "semarang": ("jawa tengah", "jawa"),
    "surakarta": ("jawa tengah", "jawa"),
    "yogyakarta": ("di yogyakarta", "jawa"),
    "surabaya": ("jawa timur", "jawa"),
    "malang": ("jawa timur", "jawa"),
    "denpasar": ("bali", "bali"),
    "medan": ("sumatera utara", "sumatera"),
    "palembang": ("sumatera selatan", "sumatera"),
    "padang": ("sumatera barat", "sumatera"),
    "pekanbaru": ("riau", "sumatera"),
    "bandar lampung": ("lampung", "sumatera"),
    "makassar": ("sulawesi selatan", "sulawesi"),
    "manado": ("sulawesi utara", "sulawesi"),
    "balikpapan": ("kalimantan timur", "kalimantan"),
    "samarinda": ("kalimantan timur", "kalimantan"),
    "pontianak": ("kalimantan barat", "kalimantan"),
    "jayapura": ("papua", "papua"),
}
_PREFIXES = ("kota administrasi ", "kota ", "kabupaten ", "kab. ", "kab ")


def city_key(name: str) -> str:
    """A city's name as the tables know it: lower case, single spaces, no "Kota"/"Kabupaten"."""
    key = " ".join(name.lower().split())
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def zone(origin: str, destination: str) -> Zone:
    """How far ``destination`` is from ``origin``."""
    a, b = city_key(origin), city_key(destination)
    if a == b:
        return Zone.CITY
    here, there = _CITIES.get(a), _CITIES.get(b)
    if here is None or there is None:
        return Zone.OTHER_ISLAND
    if here[0] == there[0]:
        return Zone.PROVINCE
    return Zone.ISLAND if here[1] == there[1] else Zone.OTHER_ISLAND


@dataclass(frozen=True)
class Kind:
    """A kind of service: its price per kg per zone (None: not served) and its days per zone."""

    per_kg: tuple[int | None, int | None, int | None, int | None]
    days: tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]
    base: int = 0
    min_kg: int = 1
    max_kg: int = 0


ECONOMY = Kind((None, 9_000, 14_000, 28_000), ((0, 0), (3, 4), (4, 6), (6, 9)))
CARGO = Kind((None, 5_000, 8_000, 18_000), ((0, 0), (3, 5), (5, 7), (7, 12)), min_kg=5)
REGULAR = Kind((8_000, 12_000, 18_000, 36_000), ((1, 2), (2, 3), (2, 4), (4, 7)))
EXPRESS = Kind((14_000, 20_000, 30_000, None), ((1, 1), (1, 1), (1, 2), (0, 0)))
INSTANT = Kind((3_000, None, None, None), ((0, 0), (0, 0), (0, 0), (0, 0)), base=15_000, max_kg=20)
SAME_DAY = Kind((2_000, None, None, None), ((0, 0), (0, 0), (0, 0), (0, 0)), base=10_000, max_kg=20)


@dataclass(frozen=True)
class Tariff:
    """One service's answer for one route and weight."""

    service: str
    price: int
    etd_from: int
    etd_thru: int
    cod: bool


@dataclass(frozen=True)
class ServiceTerms:
    """One service of a stand-in courier."""

    code: str
    kind: Kind
    cod: bool = False

    def tariff(self, route: Zone, kg: int, percent: int) -> Tariff | None:
        """The price of ``kg`` on ``route`` at ``percent`` of the list price, or None where not served."""
        per_kg = self.kind.per_kg[route]
        if per_kg is None or kg < 1 or (self.kind.max_kg and kg > self.kind.max_kg):
            return None
        list_price = self.kind.base + per_kg * max(kg, self.kind.min_kg)
        price = math.ceil(list_price * percent / 100 / 500) * 500
        etd_from, etd_thru = self.kind.days[route]
        return Tariff(self.code, price, etd_from, etd_thru, cod=self.cod and route < Zone.OTHER_ISLAND)


def kilograms(grams: int) -> int:
    """Grams as the whole kilograms a tariff is read for (rounded up)."""
    return max(-(-grams // 1000), 1)
