"""Embedded infrastructure (PostgreSQL, NATS JetStream, Valkey) and the supervisor behind `toko up`."""

import os

# This package forks the servers and services from processes that use gRPC themselves (the supervisor's
# health probes, the tests). gRPC's fork handlers, on in its wheels by default, then run in a child that
# execs at once and needs none, and can abort it before the exec ("epoll_wait error: Bad file
# descriptor", exit -6). Set before gRPC is first used, which reads it once.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

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
