"""J&T Express: JSON bodies signed in a header, ``sign`` = base64(md5(body + api key)); service EZ."""

from __future__ import annotations

import base64
import hashlib

import orjson

from toko.services.shipping.couriers.common import BookingAsk, CourierApi, RouteAsk, days, unreadable
from toko.services.shipping.domain import CourierRate


class Jnt(CourierApi):
    """J&T's API."""

    code = "jnt"

    async def _signed_post(self, path: str, document: dict[str, object]) -> object:
        body = orjson.dumps(document)
        # J&T's own scheme; MD5 is theirs to choose, not a security decision of ours.
        sign = base64.b64encode(hashlib.md5(body + self._credentials.jnt_api_key.encode()).digest()).decode()  # noqa: S324
        return await self.call(
            "POST", path, content=body, headers={"content-type": "application/json", "sign": sign}
        )

    async def rates(self, ask: RouteAsk) -> list[CourierRate]:
        """``POST tariff``: ``sendSiteCode``, ``destAreaCode``, ``weight`` in kg."""
        document = await self._signed_post(
            "/tariff",
            {"weight": ask.kg, "sendSiteCode": ask.origin_city, "destAreaCode": ask.destination_city},
        )
        try:
            assert isinstance(document, dict)
            rates = []
            for row in document["content"]:
                etd_min, etd_max = days(row.get("etd", ""))
                rates.append(
                    CourierRate(str(row["name"]), int(row["cost"]), etd_min, etd_max, bool(row.get("cod")))
                )
            return rates
        except (AssertionError, KeyError, TypeError, ValueError) as exc:
            raise unreadable(self.code, exc) from exc

    async def book(self, ask: BookingAsk) -> str:
        """``POST order/create``: the AWB number."""
        document = await self._signed_post(
            "/order/create",
            {
                "orderid": ask.reference,
                "expresstype": ask.service,
                "sender_city": ask.sender.place.city,
                "receiver_city": ask.recipient.place.city,
                "shipper_name": ask.sender.name,
                "receiver_name": ask.recipient.name,
                "weight": max(-(-ask.grams // 1000), 1),
                "cod": ask.cod_amount,
            },
        )
        try:
            assert isinstance(document, dict)
            return str(document["detail"][0]["awb_no"])
        except (AssertionError, KeyError, IndexError, TypeError) as exc:
            raise unreadable(self.code, exc) from exc
