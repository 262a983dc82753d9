"""JNE: form posts signed in with a username and API key; prices as strings, days as "etd_from"/"etd_thru"."""

from __future__ import annotations

from toko.services.shipping.couriers.common import BookingAsk, CourierApi, RouteAsk, unreadable
from toko.services.shipping.domain import CourierRate

_FORM = {"content-type": "application/x-www-form-urlencoded"}


class Jne(CourierApi):
    """JNE's API."""

    code = "jne"

    def _signed(self, fields: dict[str, str]) -> dict[str, str]:
        return {
            "username": self._credentials.jne_username,
            "api_key": self._credentials.jne_api_key,
            **fields,
        }

    async def rates(self, ask: RouteAsk) -> list[CourierRate]:
        """``POST tracing/api/pricedev``: ``from``, ``thru``, ``weight`` in kg."""
        form = self._signed({"from": ask.origin_city, "thru": ask.destination_city, "weight": str(ask.kg)})
        document = await self.call("POST", "/tracing/api/pricedev", data=form)
        try:
            return [
                CourierRate(
                    service=str(row["service_display"]),
                    price=int(row["price"]),
                    etd_min_days=int(row["etd_from"]),
                    etd_max_days=int(row["etd_thru"]),
                    cod_available=row.get("cod") == "Y",
                )
                for row in document["price"]
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise unreadable(self.code, exc) from exc

    async def book(self, ask: BookingAsk) -> str:
        """``POST tracing/api/generatecnote``: the connote (cnote) number."""
        form = self._signed(
            {
                "OLSHOP_ORDERID": ask.reference,
                "OLSHOP_SERVICE": ask.service,
                "OLSHOP_ORIG": ask.sender.place.city,
                "OLSHOP_DEST": ask.recipient.place.city,
                "OLSHOP_WEIGHT": str(max(-(-ask.grams // 1000), 1)),
                "OLSHOP_SHIPPER_NAME": ask.sender.name,
                "OLSHOP_SHIPPER_PHONE": ask.sender.phone,
                "OLSHOP_SHIPPER_ADDR1": ask.sender.street,
                "OLSHOP_RECEIVER_NAME": ask.recipient.name,
                "OLSHOP_RECEIVER_PHONE": ask.recipient.phone,
                "OLSHOP_RECEIVER_ADDR1": ask.recipient.street,
                "OLSHOP_COD_FLAG": "YES" if ask.cod_amount else "N",
                "OLSHOP_COD_AMOUNT": str(ask.cod_amount),
            }
        )
        document = await self.call("POST", "/tracing/api/generatecnote", data=form)
        try:
            return str(document["detail"][0]["cnote_no"])
        except (KeyError, IndexError, TypeError) as exc:
            raise unreadable(self.code, exc) from exc
