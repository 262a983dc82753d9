"""The stand-in couriers' HTTP APIs, each in its company's own shape, over one tariff table and parcel store.

Per courier, under ``/couriers/<code>/``:

- rates: JNE ``POST tracing/api/pricedev`` (form: username, api_key, from, thru, weight in kg);
  J&T ``POST tariff`` (JSON, header ``sign`` = base64(md5(body + api_key))); SiCepat
  ``GET customer/tariff?origin=&destination=&weight=`` (header ``api-key``); AnterAja
  ``POST serviceRates`` (JSON, headers ``access-key-id``/``secret-access-key``); GoSend
  ``GET price?origin=&destination=&weight=`` (headers ``Client-ID``/``Pass-Key``) and ``GET slots``;
- booking, answering a waybill number: JNE ``POST tracing/api/generatecnote``, J&T ``POST order/create``,
  SiCepat ``POST customer/pickup``, AnterAja ``POST order``, GoSend ``POST booking`` (with its
  ``slot_id``; ``PATCH booking/{orderNo}`` moves it to another slot until the driver picks it up);
  booking one reference again answers the same waybill;
- for every courier alike: ``GET track/{waybill}`` (the polling fallback) and the control API
  ``POST shipments/{waybill}:advance`` (``?to=failed_attempt|returned``), which sends the report
  as a signed webhook (``shipments``).

Only the wire shapes differ from courier to courier: each is a pair of small functions reading
a request into ``RateAsk``/``BookAsk`` and writing the answer, around the shared tariff and parcels.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import orjson

from toko.sandbox.asgi import Request, Response, Route
from toko.sandbox.couriers.shipments import CannotAdvance, CourierProfile, Parcels, Stage
from toko.sandbox.couriers.tariffs import (
    CARGO,
    ECONOMY,
    EXPRESS,
    INSTANT,
    REGULAR,
    SAME_DAY,
    ServiceTerms,
    Tariff,
    city_key,
    kilograms,
    zone,
)

WIB = timezone(timedelta(hours=7))
MAX_KG = 500

JNE = CourierProfile(
    "jne",
    "JNE",
    (
        ServiceTerms("OKE", ECONOMY, cod=True),
        ServiceTerms("REG", REGULAR, cod=True),
        ServiceTerms("YES", EXPRESS),
    ),
    {
        Stage.BOOKED: "MANIFESTED",
        Stage.PICKED_UP: "RECEIVED AT ORIGIN",
        Stage.IN_TRANSIT: "ON TRANSIT",
        Stage.OUT_FOR_DELIVERY: "WITH DELIVERY COURIER",
        Stage.DELIVERED: "DELIVERED",
        Stage.FAILED_ATTEMPT: "UNDELIVERED",
        Stage.RETURNED: "RETURNED TO SHIPPER",
    },
    waybill_prefix="JN",
)
JNT = CourierProfile(
    "jnt",
    "J&T Express",
    (ServiceTerms("EZ", REGULAR, cod=True),),
    {
        Stage.BOOKED: "Manifes",
        Stage.PICKED_UP: "Pick Up",
        Stage.IN_TRANSIT: "Departure",
        Stage.OUT_FOR_DELIVERY: "On Delivery",
        Stage.DELIVERED: "Delivered",
        Stage.FAILED_ATTEMPT: "Problem",
        Stage.RETURNED: "Return",
    },
    waybill_prefix="JT",
    percent=95,
)
SICEPAT = CourierProfile(
    "sicepat",
    "SiCepat",
    (ServiceTerms("GOKIL", CARGO), ServiceTerms("REG", REGULAR, cod=True), ServiceTerms("BEST", EXPRESS)),
    {
        Stage.BOOKED: "PICKREQ",
        Stage.PICKED_UP: "PICK",
        Stage.IN_TRANSIT: "IN",
        Stage.OUT_FOR_DELIVERY: "ANT",
        Stage.DELIVERED: "DELIVERED",
        Stage.FAILED_ATTEMPT: "BA",
        Stage.RETURNED: "RETUR PUSAT",
    },
    waybill_prefix="00",
    percent=92,
)
ANTERAJA = CourierProfile(
    "anteraja",
    "AnterAja",
    (ServiceTerms("REG", REGULAR, cod=True), ServiceTerms("ND", EXPRESS)),
    {
        Stage.BOOKED: "100",
        Stage.PICKED_UP: "200",
        Stage.IN_TRANSIT: "300",
        Stage.OUT_FOR_DELIVERY: "400",
        Stage.DELIVERED: "500",
        Stage.FAILED_ATTEMPT: "600",
        Stage.RETURNED: "700",
    },
    waybill_prefix="10",
    percent=97,
)
GOSEND = CourierProfile(
    "gosend",
    "GoSend",
    (ServiceTerms("INSTANT", INSTANT), ServiceTerms("SAMEDAY", SAME_DAY)),
    {
        Stage.BOOKED: "confirmed",
        Stage.PICKED_UP: "picked",
        Stage.IN_TRANSIT: "enroute_drop",
        Stage.OUT_FOR_DELIVERY: "near_drop",
        Stage.DELIVERED: "delivered",
        Stage.FAILED_ATTEMPT: "delivery_failed",
        Stage.RETURNED: "returned",
    },
    waybill_prefix="GK-",
)
PROFILES = {profile.code: profile for profile in (JNE, JNT, SICEPAT, ANTERAJA, GOSEND)}

# GoSend's windows of a day (WIB): instant every two hours from 08:00 to 20:00, same-day two halves.
_WINDOWS = {
    "INSTANT": ([time(hour) for hour in range(8, 20, 2)], timedelta(hours=2), 3),
    "SAMEDAY": ([time(9), time(15)], timedelta(hours=6), 5),
}


class Refused(Exception):
    """The request is wrong for the courier: answered 4xx with ``status`` and ``message``."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class RateAsk:
    """A rate request, whatever its wire shape."""

    origin: str
    destination: str
    kg: int


@dataclass(frozen=True)
class BookAsk:
    """A booking, whatever its wire shape: the sender's reference, the service and the route."""

    reference: str
    service: str
    origin: str
    destination: str
    slot_id: str = ""


def tariffs(profile: CourierProfile, ask: RateAsk) -> list[Tariff]:
    """What ``profile``'s services charge for ``ask`` (the ones that serve the route)."""
    route = zone(ask.origin, ask.destination)
    found = (service.tariff(route, ask.kg, profile.percent) for service in profile.services)
    return [tariff for tariff in found if tariff is not None]


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str | int) or not str(value).strip() or len(str(value)) > 200:
        raise Refused(f"{name} is required")
    return str(value).strip()


def _kg(value: object, *, grams: bool = False) -> int:
    try:
        number = float(str(value))
    except ValueError:
        raise Refused("weight must be a number") from None
    kg = kilograms(int(number)) if grams else int(-(-number // 1))
    if not 1 <= kg <= MAX_KG:
        raise Refused(f"weight must be 1 to {MAX_KG} kg")
    return kg


def _json_body(request: Request) -> dict[str, Any]:
    try:
        document = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        raise Refused("the body must be a JSON object") from None
    if not isinstance(document, dict):
        raise Refused("the body must be a JSON object")
    return document


def _form(request: Request) -> dict[str, Any]:
    return dict(request.form())


# ---- JNE: form posts, prices as strings ---------------------------------------------------------


def _jne_credentials(api_key: str) -> Callable[[Request], dict[str, Any]]:
    def checked(request: Request) -> dict[str, Any]:
        fields = _form(request)
        if not fields.get("username") or not hmac.compare_digest(str(fields.get("api_key", "")), api_key):
            raise Refused("invalid username or api_key", 401)
        return fields

    return checked


# ---- the routes ---------------------------------------------------------------------------------


def courier_routes(parcels: Parcels, *, api_key: str) -> list[Route]:
    """Every stand-in courier's API, and the shared tracking and control endpoints."""
    jne_fields = _jne_credentials(api_key)

    def jnt_body(request: Request) -> dict[str, Any]:
        expected = base64.b64encode(hashlib.md5(request.body + api_key.encode()).digest()).decode()  # noqa: S324 - J&T's scheme
        if not hmac.compare_digest(request.headers.get("sign", ""), expected):
            raise Refused("invalid sign", 401)
        return _json_body(request)

    def header_key(*names: str) -> Callable[[Request], None]:
        def checked(request: Request) -> None:
            if any(not request.headers.get(name) for name in names) or not hmac.compare_digest(
                request.headers.get(names[-1], ""), api_key
            ):
                raise Refused("invalid credentials", 401)

        return checked

    sicepat_key = header_key("api-key")
    anteraja_keys = header_key("access-key-id", "secret-access-key")
    gosend_keys = header_key("client-id", "pass-key")

    def book(profile: CourierProfile, ask: BookAsk) -> str:
        if profile.service(ask.service) is None:
            raise Refused(f"unknown service {ask.service}")
        route = zone(ask.origin, ask.destination)
        terms = profile.service(ask.service)
        assert terms is not None
        if terms.tariff(route, 1, profile.percent) is None:
            raise Refused(f"{ask.service} does not serve {ask.origin} to {ask.destination}", 422)
        parcel = parcels.book(
            profile,
            reference=ask.reference,
            service=ask.service,
            origin=ask.origin,
            destination=ask.destination,
        )
        if ask.slot_id and not parcel.slot_id:
            parcel.slot_id = ask.slot_id
        return parcel.waybill

    async def jne_prices(request: Request) -> Response:
        fields = jne_fields(request)
        ask = RateAsk(_text(fields, "from"), _text(fields, "thru"), _kg(fields.get("weight", "")))
        return Response.json(
            {
                "price": [
                    {
                        "origin_name": ask.origin.upper(),
                        "destination_name": ask.destination.upper(),
                        "service_display": tariff.service,
                        "service_code": f"{tariff.service}19",
                        "price": str(tariff.price),
                        "etd_from": str(tariff.etd_from),
                        "etd_thru": str(tariff.etd_thru),
                        "cod": "Y" if tariff.cod else "N",
                    }
                    for tariff in tariffs(JNE, ask)
                ]
            }
        )

    async def jne_book(request: Request) -> Response:
        fields = jne_fields(request)
        ask = BookAsk(
            _text(fields, "OLSHOP_ORDERID"),
            _text(fields, "OLSHOP_SERVICE"),
            _text(fields, "OLSHOP_ORIG"),
            _text(fields, "OLSHOP_DEST"),
        )
        return Response.json({"detail": [{"status": "sukses", "cnote_no": book(JNE, ask)}]})

    async def jnt_tariff(request: Request) -> Response:
        body = jnt_body(request)
        ask = RateAsk(_text(body, "sendSiteCode"), _text(body, "destAreaCode"), _kg(body.get("weight", "")))
        content = [
            {"name": t.service, "cost": str(t.price), "etd": f"{t.etd_from}-{t.etd_thru}", "cod": t.cod}
            for t in tariffs(JNT, ask)
        ]
        return Response.json({"is_success": "true", "content": content})

    async def jnt_book(request: Request) -> Response:
        body = jnt_body(request)
        ask = BookAsk(
            _text(body, "orderid"),
            _text(body, "expresstype"),
            _text(body, "sender_city"),
            _text(body, "receiver_city"),
        )
        return Response.json(
            {"success": True, "detail": [{"orderid": ask.reference, "awb_no": book(JNT, ask)}]}
        )

    async def sicepat_tariff(request: Request) -> Response:
        sicepat_key(request)
        query = dict(request.query)
        ask = RateAsk(_text(query, "origin"), _text(query, "destination"), _kg(query.get("weight", "")))
        results = [
            {
                "service": t.service,
                "tariff": t.price,
                "etd": f"{t.etd_from} - {t.etd_thru} hari",
                "cod": t.cod,
            }
            for t in tariffs(SICEPAT, ask)
        ]
        return Response.json({"sicepat": {"status": {"code": 200, "description": "OK"}, "results": results}})

    async def sicepat_book(request: Request) -> Response:
        sicepat_key(request)
        body = _json_body(request)
        ask = BookAsk(
            _text(body, "reference_number"),
            _text(body, "service_type"),
            _text(body, "origin"),
            _text(body, "destination"),
        )
        return Response.json({"status": "200", "datas": [{"receipt_number": book(SICEPAT, ask)}]})

    async def anteraja_rates(request: Request) -> Response:
        anteraja_keys(request)
        body = _json_body(request)
        ask = RateAsk(
            _text(body, "origin"), _text(body, "destination"), _kg(body.get("weight", ""), grams=True)
        )
        services = [
            {
                "product_code": t.service,
                "rates": t.price,
                "etd": f"{t.etd_from}-{t.etd_thru} Day",
                "cod": t.cod,
            }
            for t in tariffs(ANTERAJA, ask)
        ]
        return Response.json({"status": 200, "info": "OK", "content": {"services": services}})

    async def anteraja_book(request: Request) -> Response:
        anteraja_keys(request)
        body = _json_body(request)
        ask = BookAsk(
            _text(body, "booking_id"),
            _text(body, "service_code"),
            _text(body, "origin"),
            _text(body, "destination"),
        )
        return Response.json({"status": 200, "info": "OK", "content": {"waybill_no": book(ANTERAJA, ask)}})

    async def gosend_price(request: Request) -> Response:
        gosend_keys(request)
        query = dict(request.query)
        ask = RateAsk(_text(query, "origin"), _text(query, "destination"), _kg(query.get("weight", "")))
        offered = {t.service: t for t in tariffs(GOSEND, ask)}
        methods = {"INSTANT": "Instant", "SAMEDAY": "SameDay"}
        return Response.json(
            {
                name: {
                    "shipment_method": name,
                    "serviceable": code in offered,
                    "price": {"total_price": offered[code].price if code in offered else 0},
                }
                for code, name in methods.items()
            }
        )

    async def gosend_slots(request: Request) -> Response:
        gosend_keys(request)
        query = dict(request.query)
        city, service = _text(query, "city"), _text(query, "service")
        if service not in _WINDOWS:
            raise Refused("service must be INSTANT or SAMEDAY")
        try:
            day = date.fromisoformat(query.get("date", ""))
        except ValueError:
            raise Refused("date must be YYYY-MM-DD") from None
        starts, length, capacity = _WINDOWS[service]
        slots = []
        for start in starts:
            begins = datetime.combine(day, start, WIB)
            slot_id = f"{service}-{city_key(city).replace(' ', '_')}-{begins:%Y%m%d%H%M}"
            slots.append(
                {
                    "id": slot_id,
                    "start": begins.astimezone(UTC).isoformat(),
                    "end": (begins + length).astimezone(UTC).isoformat(),
                    "capacity": capacity,
                }
            )
        return Response.json({"slots": slots})

    async def gosend_book(request: Request) -> Response:
        gosend_keys(request)
        body = _json_body(request)
        method = {"Instant": "INSTANT", "SameDay": "SAMEDAY"}.get(str(body.get("shipment_method", "")), "")
        ask = BookAsk(
            _text(body, "storeOrderId"),
            method or "?",
            _text(body, "origin"),
            _text(body, "destination"),
            str(body.get("slot_id") or ""),
        )
        return Response.json({"orderNo": book(GOSEND, ask), "status": "confirmed"}, status=201)

    async def gosend_reschedule(request: Request) -> Response:
        gosend_keys(request)
        parcel = parcels.get(GOSEND.code, request.params["waybill"])
        if parcel is None:
            return Response.json({"error": "no such booking"}, status=404)
        slot_id = _text(_json_body(request), "slot_id")
        if parcel.stage is not Stage.BOOKED:
            return Response.json({"error": "the driver has picked the parcel up"}, status=409)
        parcel.slot_id = slot_id
        return Response.json({"orderNo": parcel.waybill, "slot_id": slot_id, "status": "confirmed"})

    async def track(request: Request) -> Response:
        parcel = parcels.get(request.params["code"], request.params["waybill"])
        if parcel is None:
            return Response.json({"error": "no such waybill"}, status=404)
        return Response.json(parcel.document())

    async def advance(request: Request) -> Response:
        parcel = parcels.get(request.params["code"], request.params["waybill"])
        if parcel is None:
            return Response.json({"error": "no such waybill"}, status=404)
        wanted = request.query.get("to", "")
        jumps = {"failed_attempt": Stage.FAILED_ATTEMPT, "returned": Stage.RETURNED}
        if wanted and wanted not in jumps:
            return Response.json({"error": "to must be failed_attempt or returned"}, status=400)
        try:
            parcels.advance(parcel, jumps.get(wanted))
        except CannotAdvance as exc:
            return Response.json({"error": str(exc)}, status=409)
        return Response.json(parcel.document())

    def refusing(
        endpoint: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Refused as exc:
                return Response.json({"error": str(exc)}, status=exc.status)

        return answer

    routes = [
        ("POST", "/couriers/jne/tracing/api/pricedev", jne_prices),
        ("POST", "/couriers/jne/tracing/api/generatecnote", jne_book),
        ("POST", "/couriers/jnt/tariff", jnt_tariff),
        ("POST", "/couriers/jnt/order/create", jnt_book),
        ("GET", "/couriers/sicepat/customer/tariff", sicepat_tariff),
        ("POST", "/couriers/sicepat/customer/pickup", sicepat_book),
        ("POST", "/couriers/anteraja/serviceRates", anteraja_rates),
        ("POST", "/couriers/anteraja/order", anteraja_book),
        ("GET", "/couriers/gosend/price", gosend_price),
        ("GET", "/couriers/gosend/slots", gosend_slots),
        ("POST", "/couriers/gosend/booking", gosend_book),
        ("PATCH", "/couriers/gosend/booking/{waybill}", gosend_reschedule),
        ("GET", "/couriers/{code}/track/{waybill}", track),
        ("POST", "/couriers/{code}/shipments/{waybill}:advance", advance),
    ]
    return [Route(method, path, refusing(endpoint)) for method, path, endpoint in routes]
