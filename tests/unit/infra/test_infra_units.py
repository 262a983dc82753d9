"""Pure pieces of the launcher and supervisor: backoff, registry, env, lock, banner, state, paths."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from toko.infra import (
    SERVICES,
    AlreadyRunningError,
    DataLayout,
    InfraConfig,
    Infrastructure,
    default_data_dir,
)
from toko.infra.lock import InstanceLock, holder_pid, is_locked
from toko.infra.netcheck import free_port
from toko.infra.ports import PortClaim, PortInUseError, refuse_taken_ports
from toko.infra.postgres import PostgresSettings, fallback_base_dir, others_can_traverse
from toko.infra.servers import InfraEndpoints, libpq_url
from toko.infra.services import configured_services, find_service, service_env, upstreams
from toko.infra.state import ProcessEntry, RunState, read_state, write_state
from toko.infra.supervisor import Backoff, Supervisor, credentials_lines

ENDPOINTS = InfraEndpoints(
    database_url="postgresql+asyncpg://postgres@/postgres?host=/s",
    libpq_url="postgresql://postgres@/postgres?host=/s",
    nats_url="nats://127.0.0.1:14222",
    redis_url="redis://127.0.0.1:16379/0",
)


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial=0.5, factor=2.0, maximum=4.0)
    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]


def test_the_backoff_cap_is_lowered_from_the_environment_and_refuses_nonsense() -> None:
    assert Backoff.from_env({}).maximum == 30.0
    assert [Backoff.from_env({"TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS": "2"}).delay(n) for n in range(4)] == [
        0.5,
        1.0,
        2.0,
        2.0,
    ]
    for bad in ("soon", "0", "1000"):
        with pytest.raises(ValueError, match="TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS"):
            Backoff.from_env({"TOKO_SUPERVISOR_BACKOFF_MAX_SECONDS": bad})


def test_registry_has_the_services_the_platform_starts_with() -> None:
    entries = {s.name: (s.module, s.port, s.kind) for s in SERVICES}
    assert {name: entries[name] for name in ("echo", "product", "user", "auth", "gateway")} == {
        "echo": ("toko.services.echo", 50060, "grpc"),
        "product": ("toko.services.product", 50061, "grpc"),
        "user": ("toko.services.user", 50062, "grpc"),
        "auth": ("toko.services.auth", 50063, "grpc"),
        "gateway": ("toko.gateway", 8080, "http"),
    }
    assert SERVICES[-1].name == "gateway"  # started last, after what it fronts
    assert (
        upstreams(SERVICES).items()
        >= {
            "toko.echo.v1.EchoService": "127.0.0.1:50060",
            "toko.product.v1.ProductService": "127.0.0.1:50061",
            "toko.user.v1.UserService": "127.0.0.1:50062",
            "toko.auth.v1.AuthService": "127.0.0.1:50063",
        }.items()
    )
    with pytest.raises(KeyError, match="known: echo, product, user, auth"):
        find_service("nope")


def test_service_env_carries_the_platform_configuration(tmp_path: Path) -> None:
    product = find_service("product")
    env = service_env(product, SERVICES, ENDPOINTS, data_dir=tmp_path, base={"PATH": "/bin"})
    assert env == {
        "PATH": "/bin",
        "TOKO_DATABASE_URL": ENDPOINTS.database_url,
        "TOKO_NATS_URL": ENDPOINTS.nats_url,
        "TOKO_REDIS_URL": ENDPOINTS.redis_url,
        "TOKO_DATA_DIR": str(tmp_path),
        # Each service's client secret for calls that take the role service (toko.platform.service_auth).
        "TOKO_SERVICE_CREDENTIALS_DIR": str(tmp_path / "service-credentials"),
        "TOKO_PRODUCT_PORT": "50061",
        "PYTHONUNBUFFERED": "1",
        "TOKO_AUTH_JWKS_URL": "http://127.0.0.1:50064/oauth2/jwks",
        "TOKO_AUTH_TOKEN_URL": "http://127.0.0.1:50064/oauth2/token",
        "TOKO_PUBLIC_BASE_URL": "http://127.0.0.1:8080",
        # Mail goes to the sandbox's SMTP server under `make up`.
        "TOKO_SMTP_URL": "smtp://127.0.0.1:2525",
        # The couriers are the sandbox's, and report tracking to the gateway's webhook route.
        "TOKO_SHIPPING_COURIER_BASE_URL": "http://127.0.0.1:8025/couriers",
        "TOKO_SANDBOX_COURIER_WEBHOOK_URL": "http://127.0.0.1:8080/webhooks/couriers/{courier}",
        "TOKO_PAYMENT_MIDTRANS_BASE_URL": "http://127.0.0.1:8025/payments/midtrans",
        "TOKO_SANDBOX_PUBLIC_URL": "http://127.0.0.1:8025",
        "TOKO_SANDBOX_PAYMENT_WEBHOOK_URL": "http://127.0.0.1:8080/webhooks/payments/{provider}",
        "TOKO_PAYMENT_XENDIT_BASE_URL": "http://127.0.0.1:8025/payments/xendit",
        **{f"TOKO_{s.name.upper()}_ADDRESS": s.address for s in SERVICES if s.kind == "grpc"},
    }
    assert env["TOKO_USER_ADDRESS"] == "127.0.0.1:50062"
    elsewhere = service_env(
        product,
        SERVICES,
        ENDPOINTS,
        data_dir=tmp_path,
        base={"TOKO_SERVICE_CREDENTIALS_DIR": "/run/secrets/toko"},
    )
    assert elsewhere["TOKO_SERVICE_CREDENTIALS_DIR"] == "/run/secrets/toko"
    sandbox = service_env(find_service("sandbox"), SERVICES, ENDPOINTS, data_dir=tmp_path, base={})
    assert (sandbox["TOKO_SANDBOX_PORT"], sandbox["TOKO_SANDBOX_SMTP_PORT"]) == ("8025", "2525")
    assert not any("ADMIN_TOKEN" in name for name in env)
    gateway = service_env(find_service("gateway"), SERVICES, ENDPOINTS, data_dir=tmp_path, base={})
    assert gateway["TOKO_GATEWAY_PORT"] == "8080"
    assert json.loads(gateway["TOKO_GATEWAY_UPSTREAMS"]) == upstreams(SERVICES)
    assert json.loads(gateway["TOKO_GATEWAY_HTTP_UPSTREAMS"]) == {
        "/oauth2/": "http://127.0.0.1:50064",
        "/account/": "http://127.0.0.1:50064",
        "/.well-known/": "http://127.0.0.1:50064",
        "/webhooks/couriers/": "http://127.0.0.1:50073",
        "/webhooks/payments/": "http://127.0.0.1:50074",
    }


def test_config_from_env(tmp_path: Path) -> None:
    env = {
        "TOKO_DATA_DIR": str(tmp_path),
        "TOKO_REDIS_URL": "redis://elsewhere:6379/1",
        "TOKO_NATS_PORT": "1",
    }
    config = InfraConfig.from_env(environ=env)
    assert config.data_dir == tmp_path.resolve()
    assert (config.redis_url, config.database_url, config.nats_port, config.valkey_port) == (
        "redis://elsewhere:6379/1",
        None,
        1,
        16379,
    )
    assert default_data_dir({}).name == ".toko"


def test_the_lock_names_its_holder(tmp_path: Path) -> None:
    path = DataLayout(tmp_path).lock_file
    first, second = InstanceLock(path), InstanceLock(path)
    first.acquire()
    assert is_locked(path)
    assert holder_pid(path) == os.getpid()
    with pytest.raises(AlreadyRunningError) as error:
        second.acquire()
    assert str(error.value) == f"toko is already running (pid {os.getpid()}), see `toko status`"
    first.release()
    assert not is_locked(path)
    second.acquire()
    second.release()


def test_the_banner_points_at_the_demo_credentials_without_their_secrets(tmp_path: Path) -> None:
    path = DataLayout(tmp_path).credentials_file
    assert credentials_lines(path) == [
        f"  demo credentials (passwords, client secret): {path}",
        "    (not written yet: the user and auth seeds write it)",
    ]
    path.write_text(
        json.dumps(
            {
                "accounts": [
                    {"email": "pembeli1@toko.test", "password": "buyer-secret", "roles": ["buyer"]},
                    {"email": "admin@toko.test", "password": "admin-secret", "roles": ["buyer", "admin"]},
                ],
                "clients": {"toko-scripts": {"client_id": "toko-scripts", "client_secret": "client-secret"}},
            }
        )
    )
    lines = credentials_lines(path)
    assert lines[1:] == [
        "    admin: admin@toko.test",
        "    client for scripts: toko-scripts (client credentials)",
    ]
    assert not any("secret" in line.split(":", 1)[1] for line in lines[1:])


def test_state_round_trips(tmp_path: Path) -> None:
    state = RunState(
        pid=1,
        data_dir=str(tmp_path),
        endpoints=ENDPOINTS.to_dict(),
        servers=[ProcessEntry("nats", "nats", "127.0.0.1:1", 2, "nats://127.0.0.1:1")],
        services=[ProcessEntry("echo", "grpc", "127.0.0.1:50060", 3)],
    )
    write_state(tmp_path / "state.json", state)
    assert read_state(tmp_path / "state.json") == state
    assert InfraEndpoints.from_dict(state.endpoints) == ENDPOINTS
    assert read_state(tmp_path / "missing.json") is None


def test_urls_and_settings() -> None:
    assert libpq_url("postgresql+asyncpg://u:p@h:5/db?ssl=require") == "postgresql://u:p@h:5/db?ssl=require"
    assert ENDPOINTS.pgbench_command("-S")[-2:] == ["-S", ENDPOINTS.libpq_url]
    options = PostgresSettings().options()
    assert "listen_addresses=" in options
    assert "max_connections=200" in options
    assert "fsync=on" in options
    assert "autovacuum_naptime=5min" in options


def test_traversability_and_fallback_dir(tmp_path: Path) -> None:
    private = tmp_path / "private"
    inner = private / "inner"
    inner.mkdir(parents=True)
    private.chmod(0o700)
    assert not others_can_traverse(inner)
    private.chmod(0o711)
    assert others_can_traverse(inner) == others_can_traverse(tmp_path)
    fallback = fallback_base_dir(inner)
    assert fallback == fallback_base_dir(inner)  # stable across restarts
    assert fallback.parent == Path("/var/tmp")
    assert len(fallback.name) == len("toko-") + 12


def test_make_up_leaves_the_bench_only_services_out_and_routes_nothing_to_them(tmp_path: Path) -> None:
    assert [s.name for s in SERVICES if s.bench_only] == ["echo"]
    started = configured_services(environ={})
    assert "echo" not in [s.name for s in started]
    assert [s.name for s in configured_services(environ={}, bench=True)] == [s.name for s in SERVICES]
    gateway = service_env(find_service("gateway"), started, ENDPOINTS, data_dir=tmp_path, base={})
    assert "toko.echo.v1.EchoService" not in json.loads(gateway["TOKO_GATEWAY_UPSTREAMS"])
    assert "toko.product.v1.ProductService" in json.loads(gateway["TOKO_GATEWAY_UPSTREAMS"])
    assert "echo" not in [s.name for s in Supervisor(Infrastructure(InfraConfig(tmp_path))).services]


def test_a_service_gets_its_registry_environment_unless_the_operator_set_it(tmp_path: Path) -> None:
    inventory = find_service("inventory")
    env = service_env(inventory, SERVICES, ENDPOINTS, data_dir=tmp_path, base={})
    assert env["TOKO_INVENTORY_DEMO_STOCK"] == "true"
    operator = {"TOKO_INVENTORY_DEMO_STOCK": "false"}
    assert (
        service_env(inventory, SERVICES, ENDPOINTS, data_dir=tmp_path, base=operator)[
            "TOKO_INVENTORY_DEMO_STOCK"
        ]
        == "false"
    )
    product = service_env(find_service("product"), SERVICES, ENDPOINTS, data_dir=tmp_path, base={})
    assert "TOKO_INVENTORY_DEMO_STOCK" not in product


def test_every_port_is_claimed_with_the_variable_that_moves_it() -> None:
    claims = InfraConfig(Path("x")).port_claims()
    claims += [claim for spec in configured_services(environ={}) for claim in spec.port_claims()]
    assert {(c.owner, c.port, c.variable) for c in claims} >= {
        ("nats", 14222, "TOKO_NATS_PORT"),
        ("nats monitoring", 18222, "TOKO_NATS_MONITOR_PORT"),
        ("valkey", 16379, "TOKO_VALKEY_PORT"),
        ("auth", 50063, "TOKO_AUTH_PORT"),
        ("auth http", 50064, "TOKO_AUTH_HTTP_PORT"),
        ("gateway", 8080, "TOKO_GATEWAY_PORT"),
    }
    external = InfraConfig(Path("x"), nats_url="nats://elsewhere:4222", redis_url="redis://elsewhere:6379")
    assert external.port_claims() == []


def test_a_taken_or_doubled_port_is_refused_in_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        with pytest.raises(PortInUseError) as error:
            refuse_taken_ports([PortClaim(taken, "gateway", "TOKO_GATEWAY_PORT")])
    assert (
        str(error.value)
        == f"port {taken} (gateway) is already in use (set TOKO_GATEWAY_PORT to another port)"
    )
    free = free_port()
    with pytest.raises(PortInUseError, match=f"port {free} is given to both user and product"):
        refuse_taken_ports(
            [PortClaim(free, "user", "TOKO_USER_PORT"), PortClaim(free, "product", "TOKO_PRODUCT_PORT")]
        )
    refuse_taken_ports([PortClaim(free_port(), "user", "TOKO_USER_PORT")])


def test_free_ports_handed_out_by_one_process_never_repeat() -> None:
    """Servers configured from separate picks (NATS, its monitor, Valkey) must never share a port."""
    picks = [free_port() for _ in range(300)]
    assert len(set(picks)) == len(picks)
