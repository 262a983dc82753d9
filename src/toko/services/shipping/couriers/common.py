"""What every courier adapter shares: its errors, the questions asked of it, the HTTP call, tracking.

Errors (a courier is a third party: its failures are translated here, never leaked)::

    CourierError
    ├── CourierUnavailable   down, slow, answered 5xx or something unreadable: try again later
    └── CourierRefused       answered 4xx: this request will not succeed as it is
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import httpx
import orjson

from toko.services.shipping.domain import Contact, CourierRate

_DAYS = re.compile(r"\d+")


class CourierError(Exception):
    """A courier did not do what was asked."""


class CourierUnavailable(CourierError):
    """The courier is down, slow, or answered something we cannot read."""


class CourierRefused(CourierError):
    """The courier refused the request (4xx)."""


@dataclass(frozen=True)
class Credentials:
    """What toko signs in to each courier with."""

    jne_username: str
    jne_api_key: str
    jnt_api_key: str
    sicepat_api_key: str
    anteraja_access_key_id: str
    anteraja_secret_access_key: str
    gosend_client_id: str
    gosend_pass_key: str


@dataclass(frozen=True)
class RouteAsk:
    """A rate question: from the origin city to the destination, at a chargeable weight."""

    origin_city: str
    destination_city: str
    destination_district: str
    grams: int

    @property
    def kg(self) -> int:
        """The chargeable weight in whole kilograms (it is already rounded by the courier's rule)."""
        return max(-(-self.grams // 1000), 1)


@dataclass(frozen=True)
class BookingAsk:
    """A booking: our reference (the shipment id), the service, the people, the weight and any COD."""

    reference: str
    service: str
    sender: Contact
    recipient: Contact
    grams: int
    cod_amount: int
    slot_id: str


@dataclass(frozen=True)
class TrackReport:
    """One report of the courier's tracking, in its own words."""

    word: str
    description: str
    location: str
    time: datetime


@dataclass(frozen=True)
class OfferedSlot:
    """A delivery window a slotted courier offers, and how many deliveries it takes."""

    id: str
    starts_at: datetime
    ends_at: datetime
    capacity: int


def days(text: object) -> tuple[int, int]:
    """The fewest and most days in an estimate like "2-3", "2 - 3 hari" or "1" ((0, 0) when none)."""
    numbers = [int(found) for found in _DAYS.findall(str(text))]
    if not numbers:
        return 0, 0
    return numbers[0], numbers[-1]


class CourierApi(ABC):
    """One courier's HTTP API: rates, booking, and the tracking poll every stand-in shares."""

    code: ClassVar[str]

    def __init__(self, http: httpx.AsyncClient, base_url: str, credentials: Credentials) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._credentials = credentials

    @abstractmethod
    async def rates(self, ask: RouteAsk) -> list[CourierRate]:
        """What each of its services charges for the route; raises ``CourierError``."""

    @abstractmethod
    async def book(self, ask: BookingAsk) -> str:
        """Book a parcel: its waybill number (the same for the same reference); raises ``CourierError``."""

    async def slots(self, *, service: str, city: str, day: str) -> list[OfferedSlot]:
        """The delivery windows of a slotted service; only slotted couriers have any."""
        return []

    async def reschedule(self, waybill: str, slot_id: str) -> None:
        """Move a booked parcel to another delivery slot; only slotted couriers can."""
        raise CourierRefused(f"{self.code} has no delivery slots")

    async def track(self, waybill: str) -> list[TrackReport]:
        """The parcel's reports, oldest first; raises ``CourierError``."""
        document = await self.call("GET", f"/track/{waybill}")
        try:
            return [
                TrackReport(
                    word=str(row["status"]),
                    description=str(row.get("description", "")),
                    location=str(row.get("location", "")),
                    time=datetime.fromisoformat(str(row["time"]).replace("Z", "+00:00")),
                )
                for row in document["history"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise CourierUnavailable(f"{self.code}: unreadable tracking") from exc

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request to the courier; its JSON answer, or ``CourierError``."""
        try:
            response = await self._http.request(
                method, self._base + path, params=params, data=data, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise CourierUnavailable(f"{self.code}: {type(exc).__name__}") from exc
        if 400 <= response.status_code < 500:
            raise CourierRefused(f"{self.code} answered {response.status_code}: {response.text[:200]}")
        if response.status_code >= 300:
            raise CourierUnavailable(f"{self.code} answered {response.status_code}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise CourierUnavailable(f"{self.code}: the answer is not JSON") from exc


def unreadable(code: str, exc: Exception) -> CourierUnavailable:
    """The error for an answer that does not have the courier's shape."""
    return CourierUnavailable(f"{code}: unreadable answer ({type(exc).__name__})")
