"""AnterAja: JSON posts with ``access-key-id``/``secret-access-key`` headers; weights in grams."""

from __future__ import annotations

import orjson

from toko.services.shipping.couriers.common import BookingAsk, CourierApi, RouteAsk, days, unreadable
from toko.services.shipping.domain import CourierRate


class AnterAja(CourierApi):
    """AnterAja's API."""

    code = "anteraja"

    async def _post(self, path: str, document: dict[str, object]) -> object:
        headers = {
            "content-type": "application/json",
            "access-key-id": self._credentials.anteraja_access_key_id,
            "secret-access-key": self._credentials.anteraja_secret_access_key,
        }
        return await self.call("POST", path, content=orjson.dumps(document), headers=headers)

    async def rates(self, ask: RouteAsk) -> list[CourierRate]:
        """``POST serviceRates``: ``origin``, ``destination``, ``weight`` in grams."""
        document = await self._post(
            "/serviceRates",
            {"origin": ask.origin_city, "destination": ask.destination_city, "weight": ask.grams},
        )
        try:
            assert isinstance(document, dict)
            rates = []
            for row in document["content"]["services"]:
                etd_min, etd_max = days(row.get("etd", ""))
                rates.append(
                    CourierRate(
                        str(row["product_code"]), int(row["rates"]), etd_min, etd_max, bool(row.get("cod"))
                    )
                )
            return rates
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            raise unreadable(self.code, exc) from exc

    async def book(self, ask: BookingAsk) -> str:
        """``POST order``: the waybill number."""
        document = await self._post(
            "/order",
            {
                "booking_id": ask.reference,
                "service_code": ask.service,
                "origin": ask.sender.place.city,
                "destination": ask.recipient.place.city,
                "shipper": {"name": ask.sender.name, "phone": ask.sender.phone},
                "receiver": {"name": ask.recipient.name, "phone": ask.recipient.phone},
                "weight": ask.grams,
                "cod_amount": ask.cod_amount,
            },
        )
        try:
            assert isinstance(document, dict)
            return str(document["content"]["waybill_no"])
        except (AssertionError, KeyError, TypeError) as exc:
            raise unreadable(self.code, exc) from exc
