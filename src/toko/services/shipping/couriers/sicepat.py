"""SiCepat: a GET for tariffs and JSON posts, with the ``api-key`` header; REG, BEST and GOKIL."""

from __future__ import annotations

import orjson

from toko.services.shipping.couriers.common import BookingAsk, CourierApi, RouteAsk, days, unreadable
from toko.services.shipping.domain import CourierRate


class SiCepat(CourierApi):
    """SiCepat's API."""

    code = "sicepat"

    @property
    def _key(self) -> dict[str, str]:
        return {"api-key": self._credentials.sicepat_api_key}

    async def rates(self, ask: RouteAsk) -> list[CourierRate]:
        """``GET customer/tariff?origin=&destination=&weight=``."""
        params: dict[str, str | int] = {
            "origin": ask.origin_city,
            "destination": ask.destination_city,
            "weight": ask.kg,
        }
        document = await self.call("GET", "/customer/tariff", params=params, headers=self._key)
        try:
            rates = []
            for row in document["sicepat"]["results"]:
                etd_min, etd_max = days(row.get("etd", ""))
                rates.append(
                    CourierRate(
                        str(row["service"]), int(row["tariff"]), etd_min, etd_max, bool(row.get("cod"))
                    )
                )
            return rates
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(self.code, exc) from exc

    async def book(self, ask: BookingAsk) -> str:
        """``POST customer/pickup``: the receipt number."""
        body = orjson.dumps(
            {
                "reference_number": ask.reference,
                "service_type": ask.service,
                "origin": ask.sender.place.city,
                "destination": ask.recipient.place.city,
                "shipper_name": ask.sender.name,
                "recipient_name": ask.recipient.name,
                "weight": max(-(-ask.grams // 1000), 1),
                "cod_value": ask.cod_amount,
            }
        )
        headers = {**self._key, "content-type": "application/json"}
        document = await self.call("POST", "/customer/pickup", content=body, headers=headers)
        try:
            return str(document["datas"][0]["receipt_number"])
        except (KeyError, IndexError, TypeError) as exc:
            raise unreadable(self.code, exc) from exc
