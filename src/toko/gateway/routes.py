"""Routes, built once at start from the ``google.api.http`` rules of every service with an upstream."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

from toko.gateway.binding import Binding
from toko.gateway.descriptors import ContractError, Contracts
from toko.gateway.templates import Match, PathTemplate, PathTrie, TemplateError
from toko.platform.auth import AccessRule

_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC, with everything the hot path needs precomputed."""

    http_method: str
    template: PathTemplate
    service: str
    method: MethodDescriptor
    grpc_path: str
    rule: AccessRule
    timeout: float
    binding: Binding
    # Position among the method's bindings: 0 for the main rule, then each additional binding.
    index: int = 0

    @property
    def streaming(self) -> bool:
        """Whether the RPC streams its responses (served as Server-Sent Events)."""
        return bool(self.method.server_streaming)

    @property
    def full_method(self) -> str:
        """``pkg.Service.Method``."""
        return self.method.full_name


class Router:
    """Finds the route of a request by method and path."""

    def __init__(self, routes: list[Route]) -> None:
        self.routes = routes
        self._trie: PathTrie[Route] = PathTrie()
        for route in routes:
            self._trie.add(route.http_method, route.template, route)

    def match(self, method: str, path: str) -> Match[Route] | list[str]:
        """The route and path values, or the methods the path allows (empty: no such path)."""
        return self._trie.match(method, path)


def build_routes(
    contracts: Contracts,
    upstreams: Mapping[str, str],
    *,
    default_timeout: float,
    timeouts: Mapping[str, float] | None = None,
) -> list[Route]:
    """Every HTTP binding of every service that has an upstream; raise ``ContractError`` on a bad rule."""
    timeouts = timeouts or {}
    routes: list[Route] = []
    for name in upstreams:
        service = contracts.services.get(name)
        if service is None:
            raise ContractError(f"upstream {name!r} names no service of the contracts")
        for method in service.methods:
            timeout = timeouts.get(method.full_name, default_timeout)
            routes.extend(_method_routes(service, method, timeout))
    return routes


def _method_routes(service: ServiceDescriptor, method: MethodDescriptor, timeout: float) -> Iterator[Route]:
    options = method.GetOptions()
    if not options.HasExtension(annotations_pb2.http):
        return
    if method.client_streaming:
        raise ContractError(
            f"{method.full_name}: the gateway transcodes unary and server-streaming RPCs only"
        )
    rule = options.Extensions[annotations_pb2.http]
    access = AccessRule.of(method)
    for index, binding in enumerate([rule, *rule.additional_bindings]):
        verb, path = _verb_and_path(method, binding)
        try:
            template = PathTemplate.parse(path)
            route_binding = Binding(method, template, binding.body, binding.response_body)
        except (TemplateError, LookupError) as error:
            raise ContractError(f"{method.full_name}: {error}") from error
        yield Route(
            http_method=verb,
            template=template,
            service=service.full_name,
            method=method,
            grpc_path=f"/{service.full_name}/{method.name}",
            rule=access,
            timeout=timeout,
            binding=route_binding,
            index=index,
        )


def _verb_and_path(method: MethodDescriptor, rule: http_pb2.HttpRule) -> tuple[str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern in _VERBS:
        return pattern.upper(), str(getattr(rule, pattern))
    if pattern == "custom":
        return rule.custom.kind.upper(), rule.custom.path
    raise ContractError(f"{method.full_name}: an http rule without a pattern")
