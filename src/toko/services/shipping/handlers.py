"""The shipping service's use cases, one transaction each."""

from __future__ import annotations

from toko.services.shipping import domain
from toko.services.shipping.mapping import courier_to_proto
from toko.shipping.v1 import shipping_pb2 as pb

SOURCE = "shipping"


def list_couriers() -> list[pb.Courier]:
    """Every courier toko books with."""
    return [courier_to_proto(courier) for courier in domain.COURIERS]
