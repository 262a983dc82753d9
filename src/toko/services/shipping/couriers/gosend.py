"""GoSend: instant and same-day by motorbike, with delivery slots; ``Client-ID``/``Pass-Key`` headers."""

from __future__ import annotations

from datetime import datetime

import orjson

from toko.services.shipping.couriers.common import BookingAsk, CourierApi, OfferedSlot, RouteAsk, unreadable
from toko.services.shipping.domain import CourierRate

# GoSend's shipment methods and the service codes toko knows them by.
_METHODS = {"Instant": "INSTANT", "SameDay": "SAMEDAY"}


class GoSend(CourierApi):
    """GoSend's API."""

    code = "gosend"

    @property
    def _keys(self) -> dict[str, str]:
        return {
            "client-id": self._credentials.gosend_client_id,
            "pass-key": self._credentials.gosend_pass_key,
        }

    async def rates(self, ask: RouteAsk) -> list[CourierRate]:
        """``GET price``: each method serviceable or not, its total price; delivered the same day."""
        params: dict[str, str | int] = {
            "origin": ask.origin_city,
            "destination": ask.destination_city,
            "weight": ask.kg,
        }
        document = await self.call("GET", "/price", params=params, headers=self._keys)
        try:
            return [
                CourierRate(service, int(document[method]["price"]["total_price"]), 0, 0, cod_available=False)
                for method, service in _METHODS.items()
                if document[method]["serviceable"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(self.code, exc) from exc

    async def slots(self, *, service: str, city: str, day: str) -> list[OfferedSlot]:
        """``GET slots?city=&service=&date=``."""
        params: dict[str, str | int] = {"city": city, "service": service, "date": day}
        document = await self.call("GET", "/slots", params=params, headers=self._keys)
        try:
            return [
                OfferedSlot(
                    id=str(row["id"]),
                    starts_at=datetime.fromisoformat(str(row["start"])),
                    ends_at=datetime.fromisoformat(str(row["end"])),
                    capacity=int(row["capacity"]),
                )
                for row in document["slots"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(self.code, exc) from exc

    async def reschedule(self, waybill: str, slot_id: str) -> None:
        """``PATCH booking/{orderNo}`` with the new ``slot_id``."""
        body = orjson.dumps({"slot_id": slot_id})
        headers = {**self._keys, "Content-Type": "application/json"}
        await self.call("PATCH", f"/booking/{waybill}", content=body, headers=headers)

    async def book(self, ask: BookingAsk) -> str:
        """``POST booking``: the order number, which is GoSend's waybill."""
        method = next((name for name, service in _METHODS.items() if service == ask.service), ask.service)
        body = orjson.dumps(
            {
                "storeOrderId": ask.reference,
                "shipment_method": method,
                "slot_id": ask.slot_id,
                "origin": ask.sender.place.city,
                "destination": ask.recipient.place.city,
                "routes": [
                    {
                        "originName": ask.sender.name,
                        "originContactPhone": ask.sender.phone,
                        "originAddress": ask.sender.street,
                        "destinationName": ask.recipient.name,
                        "destinationContactPhone": ask.recipient.phone,
                        "destinationAddress": ask.recipient.street,
                    }
                ],
            }
        )
        headers = {**self._keys, "content-type": "application/json"}
        document = await self.call("POST", "/booking", content=body, headers=headers)
        try:
            return str(document["orderNo"])
        except (KeyError, TypeError) as exc:
            raise unreadable(self.code, exc) from exc
