"""Couriers and quoted rates: every courier asked at once, each answer cached, every rate kept under an id."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

import orjson

from toko.platform.errors import FailedPrecondition, NotFound
from toko.platform.ids import new_id, require_id
from toko.services.shipping import domain
from toko.services.shipping.couriers.common import CourierError, RouteAsk
from toko.services.shipping.error_codes import ErrorCode
from toko.services.shipping.handlers.common import SOURCE, Shipping, log
from toko.services.shipping.mapping import courier_to_proto, rate_to_proto
from toko.services.shipping.repository import rates as rates_store
from toko.shipping.v1 import shipping_pb2 as pb


def list_couriers() -> list[pb.Courier]:
    """Every courier toko books with."""
    return [courier_to_proto(courier) for courier in domain.COURIERS]


async def quote_rates(*, shipping: Shipping, query: domain.RateQuery) -> pb.QuoteShippingRatesResponse:
    """Every rate for the query, cheapest first; a courier that fails or is slow is left out."""
    parcel = query.parcel
    couriers = [courier for courier in query.couriers if domain.carries(courier, parcel)]
    answers = await asyncio.gather(*(_ask(shipping, courier, query) for courier in couriers))
    now = shipping.clock()
    rates: list[domain.Rate] = []
    for courier, answered in zip(couriers, answers, strict=True):
        rates += domain.priced_rates(
            courier=courier,
            answered=answered,
            query=query,
            new_ids=[new_id() for _ in answered],
            now=now,
            expires_at=now + shipping.rate_ttl,
        )
    rates = domain.cheapest_first(rates)
    async with shipping.database.unit_of_work(SOURCE) as uow:
        await rates_store.add_rates(uow.session, rates)
        await uow.commit()
    return pb.QuoteShippingRatesResponse(
        rates=[rate_to_proto(rate) for rate in rates],
        actual_weight_grams=parcel.actual_grams,
        volumetric_weight_grams=parcel.volumetric_grams,
    )


async def _ask(
    shipping: Shipping, courier: domain.Courier, query: domain.RateQuery
) -> list[domain.CourierRate]:
    """One courier's answer for the route at the parcel's chargeable weight, cached a few minutes."""
    api = shipping.couriers[courier.code]
    ask = RouteAsk(
        origin_city=query.origin.city,
        destination_city=query.destination.city,
        destination_district=query.destination.district,
        grams=query.parcel.chargeable_grams(courier),
    )

    async def load() -> bytes:
        return orjson.dumps([asdict(rate) for rate in await api.rates(ask)])

    # The destination's city is in the key as well as its district: district names repeat across cities.
    key = ":".join(
        [
            "rates",
            courier.code,
            ask.origin_city.lower(),
            ask.destination_city.lower(),
            ask.destination_district.lower(),
        ]
    )
    try:
        async with asyncio.timeout(shipping.courier_timeout):
            cached = await shipping.cache.get_or_load(
                f"{key}:{ask.kg}", load, ttl=shipping.rate_cache_seconds
            )
    except (CourierError, TimeoutError) as exc:
        log.warning(
            "courier left out of a quote", extra={"courier": courier.code, "error": str(exc) or "timeout"}
        )
        return []
    return [domain.CourierRate(**row) for row in orjson.loads(cached or b"[]")]


async def get_rate(*, shipping: Shipping, rate_id: str) -> pb.ShippingRate:
    """A quoted rate while it holds: NOT_FOUND for no such rate, FAILED_PRECONDITION once expired."""
    require_id(rate_id, "rate_id")
    async with shipping.database.single_reads() as session:
        rate = await rates_store.get_rate(session, rate_id)
    if rate is None:
        raise NotFound(ErrorCode.RATE_NOT_FOUND, f"no shipping rate {rate_id}")
    if rate.expired(shipping.clock()):
        raise FailedPrecondition(ErrorCode.RATE_EXPIRED, "the rate has expired; quote again")
    return rate_to_proto(rate)
