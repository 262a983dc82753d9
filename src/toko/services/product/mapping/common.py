"""Money and timestamps on the wire, as every message of the product service carries them."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from toko.common.v1.money_pb2 import Money as MoneyProto
from toko.services.product.domain.catalog import CURRENCY


def money(amount: int, currency: str = CURRENCY) -> MoneyProto:
    """Money on the wire."""
    return MoneyProto(amount=amount, currency=currency)


def timestamp(value: datetime) -> Timestamp:
    """A timestamp on the wire."""
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp
