"""Couriers as adapters: each module speaks one company's HTTP API and answers in the domain's shapes.

``common`` holds what they share (the errors, the questions asked of a courier, the HTTP call
and the tracking poll); ``couriers_from(settings, http)`` builds one adapter per courier.
"""

from __future__ import annotations

import httpx

from toko.services.shipping.couriers.anteraja import AnterAja
from toko.services.shipping.couriers.common import CourierApi, Credentials
from toko.services.shipping.couriers.gosend import GoSend
from toko.services.shipping.couriers.jne import Jne
from toko.services.shipping.couriers.jnt import Jnt
from toko.services.shipping.couriers.sicepat import SiCepat

__all__ = ["couriers_from"]


def couriers_from(
    base_urls: dict[str, str], credentials: Credentials, http: httpx.AsyncClient
) -> dict[str, CourierApi]:
    """One adapter per courier code, each calling its base URL."""
    kinds: tuple[type[CourierApi], ...] = (Jne, Jnt, SiCepat, AnterAja, GoSend)
    return {kind.code: kind(http, base_urls[kind.code], credentials) for kind in kinds}
