"""Embedded infrastructure (PostgreSQL, NATS JetStream, Valkey) and the supervisor behind `toko up`."""

from toko.infra.errors import AlreadyRunningError, InfraError
from toko.infra.layout import DataLayout, default_data_dir
from toko.infra.servers import InfraConfig, InfraEndpoints, Infrastructure
from toko.infra.services import SERVICES, ServiceSpec

__all__ = [
    "SERVICES",
    "AlreadyRunningError",
    "DataLayout",
    "InfraConfig",
    "InfraEndpoints",
    "InfraError",
    "Infrastructure",
    "ServiceSpec",
    "default_data_dir",
]
