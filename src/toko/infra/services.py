"""The service registry and the environment each service process receives."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from toko.infra.ports import PortClaim
from toko.infra.servers import InfraEndpoints
from toko.platform.service_auth import ensure_service_secrets

HOST = "127.0.0.1"
UPSTREAMS_ENV = "TOKO_GATEWAY_UPSTREAMS"
HTTP_UPSTREAMS_ENV = "TOKO_GATEWAY_HTTP_UPSTREAMS"


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
    # A second, plain HTTP listener (the OAuth2/OIDC endpoints of auth) and the path prefixes
    # the gateway forwards to it unchanged, so those pages share the gateway's origin.
    http_port: int | None = None
    http_mounts: tuple[str, ...] = ()
    # Environment the process gets under `toko up` unless the operator's environment sets it already.
    env: Mapping[str, str] = field(default_factory=dict, hash=False)
    # Only benchmarks run it (`toko up --bench`, `make bench`): `make up` starts it not, the gateway
    # routes nothing to it, and it is not deployed.
    bench_only: bool = False
    # Further listeners by label, each moved by TOKO_<NAME>_<LABEL>_PORT (the sandbox's SMTP server).
    extra_ports: tuple[tuple[str, int], ...] = ()
    # The page `make up`'s banner shows for an HTTP process other than the gateway (the mailbox).
    home_path: str = ""

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

    @property
    def http_port_env(self) -> str:
        """Name of the variable carrying the HTTP port, e.g. TOKO_AUTH_HTTP_PORT."""
        return f"TOKO_{self.name.upper().replace('-', '_')}_HTTP_PORT"

    def extra_port_env(self, label: str) -> str:
        """Name of the variable carrying an extra port, e.g. TOKO_SANDBOX_SMTP_PORT."""
        return f"TOKO_{self.name.upper().replace('-', '_')}_{label.upper()}_PORT"

    def port_claims(self) -> list[PortClaim]:
        """Every port the service listens on, with the variable that moves it."""
        claims = [PortClaim(self.port, self.name, self.port_env)]
        if self.http_port:
            claims.append(PortClaim(self.http_port, f"{self.name} http", self.http_port_env))
        claims += [
            PortClaim(port, f"{self.name} {label}", self.extra_port_env(label))
            for label, port in self.extra_ports
        ]
        return claims

    def with_port(self, port: int, http_port: int | None = None) -> ServiceSpec:
        """Same service on other ports."""
        return dataclasses.replace(self, port=port, http_port=http_port or self.http_port)

    def with_environment_ports(self, env: Mapping[str, str]) -> ServiceSpec:
        """Same service with every port the environment moves (``TOKO_<NAME>_…PORT``)."""
        moved = self.with_port(
            int(env.get(self.port_env, self.port)),
            int(env[self.http_port_env]) if self.http_port_env in env else None,
        )
        extra = tuple(
            (label, int(env.get(self.extra_port_env(label), port))) for label, port in self.extra_ports
        )
        return dataclasses.replace(moved, extra_ports=extra)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        "echo", "toko.services.echo", 50060, proto_service="toko.echo.v1.EchoService", bench_only=True
    ),
    ServiceSpec(
        "product",
        "toko.services.product",
        50061,
        proto_service="toko.product.v1.ProductService",
        seed=("toko.services.product.seed",),
    ),
    ServiceSpec(
        "user",
        "toko.services.user",
        50062,
        proto_service="toko.user.v1.UserService",
        seed=("toko.services.user.seed",),
    ),
    ServiceSpec(
        "auth",
        "toko.services.auth",
        50063,
        proto_service="toko.auth.v1.AuthService",
        seed=("toko.services.auth.seed",),
        http_port=50064,
        http_mounts=("/oauth2/", "/account/", "/.well-known/"),
    ),
    ServiceSpec(
        "inventory",
        "toko.services.inventory",
        50065,
        proto_service="toko.inventory.v1.InventoryService",
        seed=("toko.services.inventory.seed",),
        # The demo marketplace's shops get opening stock for their SKUs; off by default (production).
        env={"TOKO_INVENTORY_DEMO_STOCK": "true"},
    ),
    # Stands in for the third parties toko cannot reach (DESIGN §1): a real SMTP server and a mailbox
    # viewer, where the platform's emails land under `make up`.
    ServiceSpec(
        "sandbox", "toko.sandbox", 8025, kind="http", extra_ports=(("smtp", 2525),), home_path="/mailbox"
    ),
    ServiceSpec(
        "notification",
        "toko.services.notification",
        50066,
        proto_service="toko.notification.v1.NotificationService",
    ),
    ServiceSpec(
        "cart",
        "toko.services.cart",
        50067,
        proto_service="toko.cart.v1.CartService",
    ),
    ServiceSpec(
        "promotion",
        "toko.services.promotion",
        50068,
        proto_service="toko.promotion.v1.PromotionService",
        seed=("toko.services.promotion.seed",),
    ),
    ServiceSpec(
        "shipping",
        "toko.services.shipping",
        50069,
        proto_service="toko.shipping.v1.ShippingService",
        # The couriers' tracking webhooks (the sandbox's under `make up`) reach it through the gateway.
        http_port=50073,
        http_mounts=("/webhooks/couriers/",),
    ),
    ServiceSpec(
        "payment",
        "toko.services.payment",
        50070,
        proto_service="toko.payment.v1.PaymentService",
        # The provider's notifications (the sandbox's under `make up`) reach it through the gateway.
        http_port=50074,
        http_mounts=("/webhooks/payments/",),
    ),
    ServiceSpec(
        "order",
        "toko.services.order",
        50071,
        proto_service="toko.order.v1.OrderService",
    ),
    ServiceSpec("gateway", "toko.gateway", 8080, kind="http", upstreams=True),
)


def configured_services(
    environ: Mapping[str, str] | None = None, *, bench: bool = False
) -> tuple[ServiceSpec, ...]:
    """What `toko up` starts (with `bench`, the bench-only services too), in the registry's order, with
    ports overridden by ``TOKO_<NAME>_PORT`` and ``TOKO_<NAME>_HTTP_PORT``."""
    env = os.environ if environ is None else environ
    return tuple(spec.with_environment_ports(env) for spec in SERVICES if bench or not spec.bench_only)


def find_service(name: str, specs: Sequence[ServiceSpec] = SERVICES) -> ServiceSpec:
    """The spec called `name`, or KeyError listing the known names."""
    for spec in specs:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown service {name!r}; known: {', '.join(s.name for s in specs)}")


def http_upstreams(specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Path prefix -> base URL of every HTTP mount the gateway forwards unchanged."""
    return {mount: f"http://{HOST}:{s.http_port}" for s in specs if s.http_port for mount in s.http_mounts}


def auth_urls(specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Where tokens are verified (auth's JWKS) and where services get their own, for every process."""
    auth = next((s for s in specs if s.name == "auth" and s.http_port), None)
    if auth is None:
        return {}
    return {
        "TOKO_AUTH_JWKS_URL": f"http://{HOST}:{auth.http_port}/oauth2/jwks",
        "TOKO_AUTH_TOKEN_URL": f"http://{HOST}:{auth.http_port}/oauth2/token",
    }


def upstreams(specs: Sequence[ServiceSpec]) -> dict[str, str]:
    """Proto service full name -> host:port of every gRPC service."""
    return {s.proto_service: s.address for s in specs if s.kind == "grpc" and s.proto_service}


def credentials_dir(data_dir: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Where the services' client secrets are: ``TOKO_SERVICE_CREDENTIALS_DIR``, or under the data dir."""
    env = os.environ if environ is None else environ
    configured = env.get("TOKO_SERVICE_CREDENTIALS_DIR")
    return Path(configured) if configured else data_dir / "service-credentials"


def ensure_credentials(specs: Sequence[ServiceSpec], data_dir: Path) -> list[str]:
    """Give every gRPC service a client secret (``toko.platform.service_auth``) unless it has one."""
    return ensure_service_secrets(credentials_dir(data_dir), [s.name for s in specs if s.kind == "grpc"])


def service_env(
    spec: ServiceSpec,
    specs: Sequence[ServiceSpec],
    endpoints: InfraEndpoints,
    *,
    data_dir: Path,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Environment of one service process: ours plus the platform's TOKO_* configuration."""
    env = dict(os.environ if base is None else base)
    for name, value in spec.env.items():
        env.setdefault(name, value)
    env |= endpoints.as_env()
    env |= {
        "TOKO_DATA_DIR": str(data_dir),
        "TOKO_SERVICE_CREDENTIALS_DIR": str(credentials_dir(data_dir, env)),
        spec.port_env: str(spec.port),
        "PYTHONUNBUFFERED": "1",  # lines reach the supervisor's log as they are written
    }
    if spec.http_port:
        env[spec.http_port_env] = str(spec.http_port)
    env |= {spec.extra_port_env(label): str(port) for label, port in spec.extra_ports}
    sandbox = next((s for s in specs if s.name == "sandbox"), None)
    if sandbox is not None:
        # Mail goes to the sandbox's SMTP server, and the couriers are its stand-ins, unless the operator
        # points them at the real ones.
        env.setdefault("TOKO_SMTP_URL", f"smtp://{HOST}:{dict(sandbox.extra_ports)['smtp']}")
        env.setdefault("TOKO_SHIPPING_COURIER_BASE_URL", f"{sandbox.url}/couriers")
        env.setdefault("TOKO_PAYMENT_MIDTRANS_BASE_URL", f"{sandbox.url}/payments/midtrans")
        env.setdefault("TOKO_PAYMENT_XENDIT_BASE_URL", f"{sandbox.url}/payments/xendit")
        env.setdefault("TOKO_SANDBOX_PUBLIC_URL", sandbox.url)
    env |= auth_urls(specs)
    # Where every gRPC service listens, for the few service-to-service calls (auth -> user).
    env |= {f"TOKO_{s.name.upper()}_ADDRESS": s.address for s in specs if s.kind == "grpc"}
    gateway = next((s for s in specs if s.upstreams), None)
    if gateway is not None:
        # The issuer of tokens and the origin of every public URL is the gateway's.
        env.setdefault("TOKO_PUBLIC_BASE_URL", gateway.url)
        # The sandbox's couriers report tracking where the real ones would: the gateway's webhook route.
        env.setdefault("TOKO_SANDBOX_COURIER_WEBHOOK_URL", f"{gateway.url}/webhooks/couriers/{{courier}}")
        # And its payment provider notifies payments there too.
        env.setdefault("TOKO_SANDBOX_PAYMENT_WEBHOOK_URL", f"{gateway.url}/webhooks/payments/{{provider}}")
    if spec.upstreams:
        env[UPSTREAMS_ENV] = json.dumps(upstreams(specs))
        env[HTTP_UPSTREAMS_ENV] = json.dumps(http_upstreams(specs))
    return env
