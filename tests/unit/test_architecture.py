"""The architecture of DESIGN.md §4 as tests: import contracts, and what every service must have.

Every package under ``src/toko/services/`` (found by directory, so a new service cannot be forgotten):

- is in the registry (``SERVICES`` in ``src/toko/infra/services.py``), run as ``python -m
  toko.services.<name>``, and reads its settings under the prefix ``TOKO_<NAME>_``;
- is named in both import contracts of ``pyproject.toml``: "Services never import one another", and
  "Domain code is pure" (its ``domain``, and its generated contracts ``toko.<name>`` among the
  modules a domain may not import);
- has a Deployment, a Service and a gateway upstream in ``deploy/kubernetes/``;
- has the modules of DESIGN.md §4, each a module or a package: ``__init__``, ``__main__``,
  ``bootstrap``, ``settings``, ``grpc_api``, ``error_codes``, ``domain``, ``handlers``, ``repository``,
  ``mapping``, and ``migrations/`` (``env.py`` and ``versions/``);
- splits ``handlers`` and ``repository`` alike: once either is a package (a service with more than one
  aggregate), both are, each with a ``common`` module beside the modules of its aggregates;
- has ``consumers`` exactly when it consumes events: its event handlers live there, so a bootstrap that
  builds an ``EventConsumer`` needs it, and a ``consumers`` that no bootstrap runs is dead code.

A service marked ``bench_only`` in the registry (echo) exists to measure the gateway and gRPC stack: it
has no domain, so it needs only the modules of a process serving gRPC (``__init__``, ``__main__``,
``bootstrap``, ``settings``, ``grpc_api``, ``error_codes``), stays out of "Domain code is pure", and is
not deployed (checked too).

``docs/adding-a-service.md`` lists the same touch points in the order a new service meets them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from toko.infra.services import SERVICES, ServiceSpec

ROOT = Path(__file__).resolve().parents[2]
SERVICES_DIR = ROOT / "src/toko/services"
KUBERNETES = ROOT / "deploy/kubernetes"
INDEPENDENCE = "Services never import one another"
PURE_DOMAIN = "Domain code is pure"
K8S_GRPC_PORT = 50051
K8S_HTTP_PORT = 8081

SERVING_MODULES = ("__init__", "__main__", "bootstrap", "settings", "grpc_api", "error_codes")
DOMAIN_MODULES = ("domain", "handlers", "repository", "mapping")
# Split one module per aggregate together, once a service has more than one aggregate.
PER_AGGREGATE_PACKAGES = ("handlers", "repository")
SERVICE_NAMES = sorted(
    path.name for path in SERVICES_DIR.iterdir() if path.is_dir() and not path.name.startswith(("_", "."))
)


def _spec(service: str) -> ServiceSpec | None:
    return next((spec for spec in SERVICES if spec.module == f"toko.services.{service}"), None)


def _bench_only(service: str) -> bool:
    spec = _spec(service)
    return spec is not None and spec.bench_only


def _contract(name: str) -> dict[str, Any]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    found = [contract for contract in contracts if contract["name"] == name]
    assert len(found) == 1, f'pyproject.toml must have one import contract named "{name}"'
    return dict(found[0])


def _has_module(package: Path, name: str) -> bool:
    return (package / f"{name}.py").is_file() or (package / name / "__init__.py").is_file()


def _source(package: Path, name: str) -> str:
    """The text of a module, or of every file of a package."""
    if (package / f"{name}.py").is_file():
        return (package / f"{name}.py").read_text()
    return "\n".join(path.read_text() for path in sorted((package / name).rglob("*.py")))


def _k8s_name(service: str) -> str:
    # Kubernetes names are DNS labels: no underscores.
    return service.replace("_", "-")


def _manifests() -> list[dict[str, Any]]:
    documents = yaml.safe_load_all((KUBERNETES / "services.yaml").read_text())
    return [document for document in documents if document]


def _deployment(service: str) -> dict[str, Any] | None:
    return next(
        (
            doc
            for doc in _manifests()
            if doc["kind"] == "Deployment" and doc["metadata"]["name"] == _k8s_name(service)
        ),
        None,
    )


def _gateway_upstreams(variable: str = "TOKO_GATEWAY_UPSTREAMS") -> dict[str, str]:
    config = yaml.safe_load((KUBERNETES / "config.yaml").read_text())
    return dict(json.loads(config["data"][variable]))


def test_import_contracts_hold() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


def test_services_are_found() -> None:
    assert {"product", "user", "auth", "inventory", "echo"} <= set(SERVICE_NAMES)


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_service_is_in_the_registry(service: str) -> None:
    spec = _spec(service)
    assert spec is not None, (
        f"{service} is missing from the registry: add a ServiceSpec running toko.services.{service} "
        "to SERVICES in src/toko/infra/services.py (before the gateway)"
    )
    assert spec.name == service, f"the registry names toko.services.{service} {spec.name!r}, not {service!r}"
    if not spec.bench_only:
        assert spec.proto_service, f"{service}'s ServiceSpec names no proto_service for the gateway to route"


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_service_reads_its_settings_under_its_own_prefix(service: str) -> None:
    settings = SERVICES_DIR / service
    prefix = f'env_prefix="TOKO_{service.upper()}_"'
    assert _has_module(settings, "settings"), f"{service} has no settings module"
    assert prefix in _source(settings, "settings"), (
        f"{service}'s settings must read the environment under {prefix} (the registry passes its port "
        f"as TOKO_{service.upper()}_PORT)"
    )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_service_is_in_the_independence_contract(service: str) -> None:
    modules = _contract(INDEPENDENCE)["modules"]
    assert f"toko.services.{service}" in modules, (
        f'toko.services.{service} is missing from the import contract "{INDEPENDENCE}" in pyproject.toml'
    )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_domain_is_in_the_purity_contract(service: str) -> None:
    contract = _contract(PURE_DOMAIN)
    domain = f"toko.services.{service}.domain"
    if _bench_only(service):
        assert domain not in contract["source_modules"], f"{service} is bench-only and has no domain"
        return
    assert domain in contract["source_modules"], (
        f'{domain} is missing from the source_modules of the import contract "{PURE_DOMAIN}" in pyproject.toml'
    )
    if (ROOT / "proto/toko" / service).is_dir():
        assert f"toko.{service}" in contract["forbidden_modules"], (
            f'toko.{service} (its generated contracts) is missing from the forbidden_modules of "{PURE_DOMAIN}" '
            "in pyproject.toml"
        )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_service_is_deployed(service: str) -> None:
    name = _k8s_name(service)
    services = [doc for doc in _manifests() if doc["kind"] == "Service" and doc["metadata"]["name"] == name]
    deployment = _deployment(service)
    spec = _spec(service)
    if _bench_only(service):
        assert deployment is None, f"{service} is bench-only: remove its Deployment from services.yaml"
        assert not services, f"{service} is bench-only: remove its Service from services.yaml"
        assert spec is None or spec.proto_service not in _gateway_upstreams(), (
            f"{service} is bench-only: remove it from TOKO_GATEWAY_UPSTREAMS in deploy/kubernetes/config.yaml"
        )
        return
    where = "deploy/kubernetes/services.yaml"
    assert deployment is not None, f"{service} has no Deployment named {name!r} in {where}"
    commands = [c["command"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert ["python", "-m", f"toko.services.{service}"] in commands, (
        f"the Deployment {name!r} in {where} must run `python -m toko.services.{service}`"
    )
    assert services, f"{service} has no Service named {name!r} in {where}"
    assert spec is not None, f"{service} is not in the registry"
    assert spec.proto_service, f"{service}'s ServiceSpec names no proto_service for the gateway to route"
    upstream = _gateway_upstreams().get(spec.proto_service)
    assert upstream == f"{name}:{K8S_GRPC_PORT}", (
        f'TOKO_GATEWAY_UPSTREAMS in deploy/kubernetes/config.yaml must route "{spec.proto_service}" to '
        f'"{name}:{K8S_GRPC_PORT}"'
    )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_services_http_listener_is_deployed_and_routed(service: str) -> None:
    spec = _spec(service)
    if spec is None or spec.bench_only or not spec.http_port:
        return
    name, where = _k8s_name(service), "deploy/kubernetes/services.yaml"
    deployment = _deployment(service)
    assert deployment is not None, f"{service} has no Deployment named {name!r} in {where}"
    (container,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    assert ports.get("http") == K8S_HTTP_PORT, (
        f"the {name} container in {where} must expose http: {K8S_HTTP_PORT}"
    )
    assert env.get(spec.http_port_env) == str(K8S_HTTP_PORT), (
        f"the {name} container in {where} must set {spec.http_port_env} to {K8S_HTTP_PORT}"
    )
    (k8s_service,) = [d for d in _manifests() if d["kind"] == "Service" and d["metadata"]["name"] == name]
    assert any(port["name"] == "http" for port in k8s_service["spec"]["ports"]), (
        f"the Service {name!r} in {where} must expose its http port"
    )
    routed = _gateway_upstreams("TOKO_GATEWAY_HTTP_UPSTREAMS")
    for mount in spec.http_mounts:
        assert routed.get(mount) == f"http://{name}:{K8S_HTTP_PORT}", (
            f'TOKO_GATEWAY_HTTP_UPSTREAMS in deploy/kubernetes/config.yaml must forward "{mount}" to '
            f'"http://{name}:{K8S_HTTP_PORT}"'
        )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_the_service_has_the_modules_of_its_shape(service: str) -> None:
    package = SERVICES_DIR / service
    required = SERVING_MODULES if _bench_only(service) else SERVING_MODULES + DOMAIN_MODULES
    missing = [name for name in required if not _has_module(package, name)]
    assert not missing, (
        f"src/toko/services/{service}/ lacks {', '.join(missing)} (each a module <name>.py or a package "
        "<name>/__init__.py; see docs/adding-a-service.md)"
    )
    if _bench_only(service):
        return
    migrations = package / "migrations"
    for part in ("env.py", "versions"):
        assert (migrations / part).exists(), (
            f"src/toko/services/{service}/ lacks migrations/{part} (its Alembic migrations)"
        )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_handlers_and_repository_are_split_by_aggregate_alike(service: str) -> None:
    package = SERVICES_DIR / service
    packages = [name for name in PER_AGGREGATE_PACKAGES if (package / name / "__init__.py").is_file()]
    if not packages:
        return
    modules = [name for name in PER_AGGREGATE_PACKAGES if (package / f"{name}.py").is_file()]
    assert not modules, (
        f"src/toko/services/{service}/{packages[0]}/ is a package (one module per aggregate), but "
        f"{', '.join(f'{name}.py' for name in modules)} is still one module: split it the same way "
        "(see docs/adding-a-service.md)"
    )
    for name in packages:
        assert (package / name / "common.py").is_file(), (
            f"src/toko/services/{service}/{name}/ lacks common.py (what its aggregates' modules share)"
        )


@pytest.mark.parametrize("service", SERVICE_NAMES)
def test_event_handlers_live_in_consumers(service: str) -> None:
    package = SERVICES_DIR / service
    consumes = _has_module(package, "bootstrap") and "EventConsumer(" in _source(package, "bootstrap")
    has_consumers = _has_module(package, "consumers")
    assert has_consumers or not consumes, (
        f"{service}'s bootstrap runs an EventConsumer: put its event handlers in "
        f"src/toko/services/{service}/consumers.py"
    )
    assert consumes or not has_consumers, (
        f"src/toko/services/{service}/consumers.py has event handlers that no EventConsumer in its bootstrap runs"
    )
