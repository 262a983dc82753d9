"""Wires the echo service."""

from __future__ import annotations

from toko.echo.v1 import echo_pb2, echo_pb2_grpc
from toko.platform.grpc import GrpcService
from toko.platform.service import ServiceApp
from toko.platform.settings import ServiceSettings
from toko.services.echo.grpc_api import EchoServicer


async def bootstrap(settings: ServiceSettings) -> ServiceApp:
    """Build the echo service; it has no database, events or cache."""
    return ServiceApp(
        name="echo",
        grpc_services=[
            GrpcService(
                descriptor=echo_pb2.DESCRIPTOR.services_by_name["EchoService"],
                servicer=EchoServicer(),
                register=echo_pb2_grpc.add_EchoServiceServicer_to_server,
            )
        ],
    )
