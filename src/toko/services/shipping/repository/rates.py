"""Quoted rates, kept under an id until they expire."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import (
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from toko.services.shipping import domain
from toko.services.shipping.repository.tables import (
    shipping_rates,
)


async def add_rates(session: AsyncSession, rates: list[domain.Rate]) -> None:
    """Keep quoted rates."""
    if not rates:
        return
    await session.execute(
        shipping_rates.insert(),
        [
            {
                "id": rate.id,
                "courier": rate.courier,
                "service": rate.service,
                "service_name": rate.service_name,
                "level": int(rate.level),
                "price": rate.price,
                "currency": rate.currency,
                "chargeable_grams": rate.chargeable_grams,
                "etd_min_days": rate.etd_min_days,
                "etd_max_days": rate.etd_max_days,
                "cod_available": rate.cod_available,
                "insurance_fee": rate.insurance_fee,
                "slotted": rate.slotted,
                "origin": asdict(rate.origin),
                "destination": asdict(rate.destination),
                "created_at": rate.created_at,
                "expires_at": rate.expires_at,
            }
            for rate in rates
        ],
    )


async def get_rate(session: AsyncSession, rate_id: str) -> domain.Rate | None:
    """The rate, expired or not, or None."""
    row = (await session.execute(select(shipping_rates).where(shipping_rates.c.id == rate_id))).first()
    if row is None:
        return None
    return domain.Rate(
        id=str(row.id),
        courier=row.courier,
        service=row.service,
        service_name=row.service_name,
        level=domain.Level(row.level),
        price=row.price,
        chargeable_grams=row.chargeable_grams,
        etd_min_days=row.etd_min_days,
        etd_max_days=row.etd_max_days,
        cod_available=row.cod_available,
        insurance_fee=row.insurance_fee,
        slotted=row.slotted,
        origin=domain.Place(**row.origin),
        destination=domain.Place(**row.destination),
        created_at=row.created_at,
        expires_at=row.expires_at,
        currency=row.currency,
    )


# ---- slots --------------------------------------------------------------------------------------
