"""The service registry and the environment each service process receives."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from toko.infra.servers import InfraEndpoints

HOST = "127.0.0.1"
DEV_ADMIN_TOKEN_ENV = "TOKO_DEV_ADMIN_TOKEN"  # noqa: S105 - a variable name
UPSTREAMS_ENV = "TOKO_GATEWAY_UPSTREAMS"


@dataclass(frozen=True)
class ServiceSpec:
    """One service: `python -m <module>` listening on `port`."""

    name: str
    module: str
    port: int
    kind: Literal["grpc", "http"] = "grpc"
    proto_service: str | None = None  # full proto name the gateway routes to this service
    seed: tuple[str, ...] = ()  # modules run once (`python -m`) after the first healthy start
    upstreams: bool = False  # receives TOKO_GATEWAY_UPSTREAMS (the gateway)

    @property
    def port_env(self) -> str:
        """Name of the variable carrying the port, e.g. TOKO_PRODUCT_PORT."""
        return f"TOKO_{self.name.upper().replace('-', '_')}_PORT"

    @property
    def address(self) -> str:
        """host:port."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        """Base URL (HTTP services) or address (gRPC services)."""
        return f"http://{self.address}" if self.kind == "http" else self.address

    def command(self) -> list[str]:
        """The command line that runs the service."""
        return [sys.executable, "-m", self.module]

    def with_port(self, port: int) -> ServiceSpec:
        """Same service on another port."""
        return ServiceSpec(
            self.name, self.module, port, self.kind, self.proto_service, self.seed, self.upstreams
        )


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("echo", "toko.services.echo", 50060, proto_service="toko.echo.v1.EchoService"),
    ServiceSpec(
        "product",
        "toko.services.product",
        50061,
        proto_service="toko.product.v1.ProductService",
        seed=("toko.services.product.seed",),
    ),
    ServiceSpec("gateway", "toko.gateway", 8080, kind="http", upstreams=True),
)


def configured_services(environ: Mapping[str, str] | None = None) -> tuple[ServiceSpec, ...]:
    """The registry with each port overridden by ``TOKO_<NAME>_PORT`` when set (tests, benchmarks)."""
    env = os.environ if environ is None else environ
    return tuple(
        spec.with_port(int(env[spec.port_env])) if spec.port_env in env else spec for spec in SERVICES
    )


def find_service(name: str, specs: Sequence[ServiceSpec] = SERVICES) -> ServiceSpec:
    """The spec called `name`, or KeyError listing the known names."""
    for spec in specs:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in specs)}")


def upstreams(specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Proto service full name -> host:port of every gRPC service."""
    return {s.proto_service: s.address for s in specs if s.kind == "grpc" and s.proto_service}


def service_env(
    spec: ServiceSpec,
    specs: Sequence[ServiceSpec],
    endpoints: InfraEndpoints,
    *,
    data_dir: Path,
    admin_token: str,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of one service process: ours plus the platform's TOKO_* configuration."""
    env = dict(os.environ if base is None else base)
    env |= endpoints.as_env()
    env |= {
        "TOKO_DATA_DIR": str(data_dir),
        DEV_ADMIN_TOKEN_ENV: admin_token,
        spec.port_env: str(spec.port),
        "PYTHONUNBUFFERED": "1",  # lines reach the supervisor's log as they are written
    }
    if spec.upstreams:
        env[UPSTREAMS_ENV] = json.dumps(upstreams(specs))
    return env
