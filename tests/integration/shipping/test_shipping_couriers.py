"""Couriers through the real shipping service."""

from __future__ import annotations

from toko.shipping.v1 import shipping_pb2 as pb
from toko.shipping.v1 import shipping_pb2_grpc

Stub = shipping_pb2_grpc.ShippingServiceStub


async def test_anyone_lists_the_couriers_and_their_services(stub: Stub) -> None:
    couriers = (await stub.ListCouriers(pb.ListCouriersRequest())).couriers

    assert [courier.code for courier in couriers] == ["jne", "jnt", "sicepat", "anteraja", "gosend"]
    jne = couriers[0]
    assert [(s.code, s.level, s.cod_supported) for s in jne.services] == [
        ("OKE", pb.SERVICE_LEVEL_ECONOMY, True),
        ("REG", pb.SERVICE_LEVEL_REGULAR, True),
        ("YES", pb.SERVICE_LEVEL_EXPRESS, False),
    ]
    assert [s.slotted for s in couriers[-1].services] == [True, True]
