"""The gateway as a raw ASGI application: HTTP/JSON in, gRPC to the services, JSON or problem+json out.

The hot path does no descriptor work: routes, bindings and gRPC callables are
prepared at start (callables on first use), and JSON goes through orjson. Each API
call is authenticated (cached JWT verification), charged to its rate-limit bucket
and checked against its route's access rule (one Valkey round trip in all), then
transcoded. Paths under an HTTP mount (``/oauth2/``…) are forwarded unchanged.
See docs/adr/0005-http-gateway.md and docs/adr/0006-token-verification.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from dataclasses import dataclass, field

import grpc
import orjson
from google.protobuf.message import Message

from toko.gateway.auth import Authenticator, admit, header_text, identify, revoked
from toko.gateway.cors import Cors
from toko.gateway.demo_images import DEMO_IMAGE_POLICY, DEMO_IMAGES_PREFIX, demo_image
from toko.gateway.descriptors import Contracts, load_contracts
from toko.gateway.docs import ASSETS_PREFIX, REDIRECT_PAGE, REDIRECT_SCRIPT, Asset, DocsAssets
from toko.gateway.error_codes import ErrorCode
from toko.gateway.health import LIVE, Health
from toko.gateway.limits import EdgeLimits
from toko.gateway.mounts import HttpMounts, StreamBroken
from toko.gateway.openapi import build_openapi
from toko.gateway.problems import PROBLEM_CONTENT_TYPE, Problem, from_rpc_error
from toko.gateway.routes import Route, Router, build_routes
from toko.gateway.settings import GatewaySettings
from toko.gateway.streaming import relay_stream
from toko.gateway.upstream import Upstreams
from toko.platform.asgi import (
    BodyTooLarge,
    ClientGone,
    InvalidContentLength,
    Receive,
    RequestBody,
    Scope,
    Send,
    routing_method,
    send_response,
)
from toko.platform.auth import ANONYMOUS, NOTHING_REVOKED, AccessRule, jwt_authenticator
from toko.platform.cache import create_valkey
from toko.platform.context import TraceContext, request_id_var, trace_var
from toko.platform.ids import new_id
from toko.platform.ratelimit import Decision, RateLimiter
from toko.platform.revocation import RevokedTokens

log = logging.getLogger("toko.gateway")

JSON = b"application/json"
_MAX_REQUEST_ID = 128
_BUILTIN_PATHS = frozenset(
    {"/openapi.json", "/docs", "/docs/", REDIRECT_PAGE, REDIRECT_SCRIPT, "/healthz", "/livez"}
)


@dataclass(slots=True)
class Response:
    """What a handler answers; the app adds the shared headers and sends it."""

    status: int
    body: bytes
    content_type: bytes = JSON
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    # Set for assets whose gzip form is computed once and kept.
    gzipped: bytes | None = None


def create_app(
    settings: GatewaySettings,
    *,
    authenticator: Authenticator | None = None,
    contracts: Contracts | None = None,
    limiter: RateLimiter | None = None,
) -> Gateway:
    """Build the gateway for the services and HTTP mounts ``settings`` names.

    Without an ``authenticator``, access tokens are verified against the auth service's JWKS and refused
    once revoked (the auth service's events, followed while the gateway runs); without a ``limiter``,
    one is made on ``settings.redis_url`` (unless rate limiting is switched off).
    """
    contracts = contracts or load_contracts()
    routes = build_routes(
        contracts,
        settings.upstreams,
        default_timeout=settings.default_timeout,
        timeouts=settings.route_timeouts,
    )
    revocations: RevokedTokens | None = None
    if authenticator is None:
        revocations = RevokedTokens() if settings.follow_revocations else None
        authenticator = jwt_authenticator(
            issuer=settings.public_base_url,
            jwks_url=settings.auth_jwks_url,
            jwks=settings.auth_jwks,
            revoked=revocations if revocations is not None else NOTHING_REVOKED,
        )
    limits: EdgeLimits | None = None
    if settings.rate_limit_enabled:
        # Short timeouts: a slow Valkey must cost a request little before the limiter fails open.
        valkey = create_valkey(settings.redis_url, max_connections=128, timeout=0.25)
        limits = EdgeLimits(settings, limiter or RateLimiter(valkey), valkey)
    openapi = orjson.dumps(
        build_openapi(
            contracts,
            routes,
            public_base_url=settings.public_base_url,
            docs_client_id=settings.docs_client_id,
        )
    )
    return Gateway(
        settings,
        Router(routes),
        Upstreams(settings.upstreams),
        authenticator,
        openapi,
        mounts=HttpMounts(settings.http_upstreams, timeout=settings.http_upstream_timeout),
        limits=limits,
        revocations=revocations,
    )


class Gateway:
    """The ASGI callable."""

    def __init__(
        self,
        settings: GatewaySettings,
        router: Router,
        upstreams: Upstreams,
        authenticator: Authenticator,
        openapi: bytes,
        *,
        mounts: HttpMounts | None = None,
        limits: EdgeLimits | None = None,
        revocations: RevokedTokens | None = None,
    ) -> None:
        self.settings = settings
        self.revocations = revocations
        self._background: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self.router = router
        self.upstreams = upstreams
        self.mounts = mounts or HttpMounts({}, timeout=settings.http_upstream_timeout)
        self.limits = limits
        self._authenticator = authenticator
        self._openapi = Asset(openapi, zlib.compress(openapi, 9, wbits=31), JSON)
        self._docs = DocsAssets(
            client_id=settings.docs_client_id,
            redirect_url=settings.public_base_url.rstrip("/") + REDIRECT_PAGE,
        )
        self._max_body = settings.max_body_bytes
        self._gzip_min = settings.gzip_min_bytes
        self._stream_timeout = settings.stream_timeout
        self._stream_heartbeat = settings.stream_heartbeat
        self._cors = Cors(settings.cors_origins, settings.cors_max_age)
        self._health = Health(self.upstreams, self.mounts, limits, revocations, settings.health_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection scope."""
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1003})

    def start(self) -> None:
        """Start the background work: following the auth service's revocations."""
        if self.revocations is not None and not self._background:
            follow = self.revocations.follow(self.settings.nats_url, self._stop, name="gateway")
            self._background.append(asyncio.create_task(follow, name="gateway-revocations"))

    async def aclose(self) -> None:
        """Stop the background work, close the channels to the services (calls in flight finish), the
        mounts' pool and Valkey."""
        self._stop.set()
        for task in self._background:
            await task
        await self.upstreams.close(self.settings.shutdown_grace_seconds)
        await self.mounts.aclose()
        if self.limits is not None:
            await self.limits.aclose()

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        headers: dict[bytes, bytes] = dict(scope["headers"])
        request_id = _request_id(headers.get(b"x-request-id"))
        request_id_var.set(request_id)
        method: str = scope["method"]
        # HEAD is routed, authorized and answered as GET.
        verb, head = routing_method(method)
        raw_path: bytes | None = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        route: Route | None = None
        # Headers every answer to this request carries whatever it is (the RateLimit ones).
        extra: list[tuple[bytes, bytes]] = []
        body = RequestBody(receive, headers, self._max_body)
        try:
            if path in _BUILTIN_PATHS or path.startswith((ASSETS_PREFIX, DEMO_IMAGES_PREFIX)):
                response = await self._builtin(verb, path)
            elif (mount := self.mounts.match(path)) is not None:
                status = await self._forward(mount, path, scope, body, send, headers, request_id, extra)
                self._access_log(method, None, path, status=status, started=started, request_id=request_id)
                return
            elif method == "OPTIONS":
                response = self._options(path, headers)
            else:
                found = self.router.match(verb, path)
                if isinstance(found, list):
                    raise _no_route(path, found)
                route = found.value
                authorization = await self._admit(route.rule, scope, headers, extra)
                if route.streaming:
                    status = await self._stream(
                        route,
                        found.params,
                        scope,
                        receive,
                        send,
                        body,
                        headers,
                        request_id,
                        authorization,
                        extra,
                    )
                    self._access_log(
                        method, route, path, status=status, started=started, request_id=request_id
                    )
                    return
                response = await self._proxy(
                    route,
                    params=found.params,
                    scope=scope,
                    body=body,
                    headers=headers,
                    request_id=request_id,
                    authorization=authorization,
                )
        except Problem as error:
            response = _problem_response(error, request_id)
        except ClientGone:
            self._access_log(method, route, path, status=499, started=started, request_id=request_id)
            return
        except StreamBroken:
            # The answer had started: nothing can be said any more; the server drops the connection.
            self._access_log(method, route, path, status=502, started=started, request_id=request_id)
            raise
        except Exception:
            log.exception("unhandled error serving %s %s", method, path)
            problem = Problem(
                500, ErrorCode.INTERNAL, "the gateway failed; quote the request id when reporting it"
            )
            response = _problem_response(problem, request_id)
        if extra:
            response.headers = [*response.headers, *extra]
        await self._send(send, response, headers, request_id, head=head, unread=body.unread)
        self._access_log(method, route, path, status=response.status, started=started, request_id=request_id)

    async def _proxy(
        self,
        route: Route,
        *,
        params: dict[tuple[str, ...], str],
        scope: Scope,
        body: RequestBody,
        headers: dict[bytes, bytes],
        request_id: str,
        authorization: str | None,
    ) -> Response:
        request, metadata = await self._upstream_request(
            route, params, scope, body, headers, request_id, authorization
        )
        binding = route.binding
        call = self.upstreams.unary(
            route.service,
            route.grpc_path,
            binding.request_class.SerializeToString,
            binding.response_class.FromString,
        )
        try:
            reply = await call(request, timeout=route.timeout, metadata=metadata)
        except grpc.aio.AioRpcError as error:
            raise from_rpc_error(error) from error
        return Response(200, binding.render(reply))

    async def _stream(  # noqa: PLR0917 - one private call site, every argument a different thing
        self,
        route: Route,
        params: dict[tuple[str, ...], str],
        scope: Scope,
        receive: Receive,
        send: Send,
        body: RequestBody,
        headers: dict[bytes, bytes],
        request_id: str,
        authorization: str | None,
        extra: list[tuple[bytes, bytes]],
    ) -> int:
        """Serve a server-streaming RPC as Server-Sent Events (``toko.gateway.streaming``)."""
        request, metadata = await self._upstream_request(
            route, params, scope, body, headers, request_id, authorization
        )
        binding = route.binding
        call = self.upstreams.stream(
            route.service,
            route.grpc_path,
            binding.request_class.SerializeToString,
            binding.response_class.FromString,
        )(request, timeout=self._stream_timeout, metadata=metadata)
        answer_headers = [
            (b"x-request-id", request_id.encode()),
            *extra,
            *self._cors.answer_headers(headers.get(b"origin")),
        ]
        return await relay_stream(
            call,
            render=binding.render,
            send=send,
            receive=receive,
            headers=answer_headers,
            request_id=request_id,
            heartbeat=self._stream_heartbeat,
        )

    async def _upstream_request(  # noqa: PLR0917
        self,
        route: Route,
        params: dict[tuple[str, ...], str],
        scope: Scope,
        body: RequestBody,
        headers: dict[bytes, bytes],
        request_id: str,
        authorization: str | None,
    ) -> tuple[Message, tuple[tuple[str, str], ...]]:
        """The request message and the metadata to call ``route``'s RPC with."""
        binding = route.binding
        content: bytes | None = None
        if binding.has_body:
            content = await _read(body)
            if content and not _is_json(headers.get(b"content-type")):
                raise Problem(
                    415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, "send the request body as application/json"
                )
        elif body.unread:
            await _read(body)  # ignored, but read so the connection can carry the next request
        request = binding.request(params, scope["query_string"], content)
        trace = TraceContext.parse(_header_text(headers.get(b"traceparent")), None)
        if trace is None:
            trace = TraceContext.new()
        else:
            trace = TraceContext(trace.trace_id, trace.parent_id, trace.flags, _tracestate(headers))
        trace_var.set(trace)
        metadata: list[tuple[str, str]] = [("x-request-id", request_id), ("traceparent", trace.traceparent)]
        if trace.tracestate:
            metadata.append(("tracestate", trace.tracestate))
        if authorization:
            metadata.append(("authorization", authorization))
        idempotency = headers.get(b"idempotency-key")
        if idempotency is not None:
            key = _header_text(idempotency)
            if not key or len(key) > 255:
                raise Problem(
                    400,
                    ErrorCode.INVALID_IDEMPOTENCY_KEY,
                    "Idempotency-Key must be 1 to 255 printable ASCII characters",
                )
            metadata.append(("idempotency-key", key))
        return request, tuple(metadata)

    async def _admit(
        self, rule: AccessRule, scope: Scope, headers: dict[bytes, bytes], extra: list[tuple[bytes, bytes]]
    ) -> str | None:
        """Authenticate, rate-limit and authorize the caller; the ``Authorization`` value to forward.

        One Valkey round trip charges the caller's bucket and, for a token on a protected route, asks
        whether it was revoked. A bad token is charged to the IP before its 401, so failing tokens
        cost their sender the same budget as any other request.
        """
        header = headers.get(b"authorization")
        failure: Problem | None = None
        try:
            principal = await identify(self._authenticator, header)
        except Problem as problem:
            principal, failure = ANONYMOUS, problem
        if self.limits is not None:
            token_id = "" if rule.public else principal.token_id
            decision = await self.limits.api(scope, principal, revoked=token_id)
            if decision is not None:
                extra += decision.headers()
                if not decision.allowed:
                    raise _rate_limited(decision)
                if decision.key_exists:
                    raise revoked(await self.limits.revocation_cause(token_id))
        if failure is not None:
            raise failure
        admit(rule, principal)
        return None if principal.is_anonymous else header_text(header)

    async def _forward(  # noqa: PLR0917 - one private call site, every argument a different thing
        self,
        base: str,
        path: str,
        scope: Scope,
        body: RequestBody,
        send: Send,
        headers: dict[bytes, bytes],
        request_id: str,
        extra: list[tuple[bytes, bytes]],
    ) -> int:
        if self.limits is not None:
            decision = await self.limits.page(scope, path)
            if decision is not None:
                extra += decision.headers()
                if not decision.allowed:
                    raise _rate_limited(decision)
        content = await _read(body)
        return await self.mounts.forward(
            base, scope=scope, body=content, request_id=request_id, send=send, extra_headers=extra
        )

    async def _builtin(self, method: str, path: str) -> Response:
        if method != "GET":
            raise Problem(
                405,
                ErrorCode.METHOD_NOT_ALLOWED,
                f"{path} allows only GET and HEAD",
                headers=[(b"allow", b"GET, HEAD")],
            )
        if path == "/livez":
            return Response(200, LIVE)
        if path == "/healthz":
            return Response(*await self._health.report())
        if path == "/openapi.json":
            return _asset_response(self._openapi)
        if path in ("/docs", "/docs/"):
            return _asset_response(self._docs.page())
        if path.startswith(DEMO_IMAGES_PREFIX):
            return _demo_image(path)
        if path in (REDIRECT_PAGE, REDIRECT_SCRIPT):
            asset = self._docs.asset(path.rsplit("/", 1)[-1])
        else:
            asset = self._docs.asset(path.removeprefix(ASSETS_PREFIX))
        if asset is None:
            raise _no_route(path, [])
        response = _asset_response(asset)
        response.headers.append((b"cache-control", b"public, max-age=86400"))
        return response

    def _options(self, path: str, headers: dict[bytes, bytes]) -> Response:
        allowed = self.router.match("", path)
        if not isinstance(allowed, list) or not allowed:
            raise _no_route(path, [])
        allowed = _with_head(allowed)
        allow = ", ".join([*allowed, "OPTIONS"]).encode()
        return Response(204, b"", headers=[(b"allow", allow), *self._cors.preflight(headers, allowed, allow)])

    async def _send(
        self,
        send: Send,
        response: Response,
        headers: dict[bytes, bytes],
        request_id: str,
        *,
        head: bool,
        unread: bool,
    ) -> None:
        body = response.body
        out = [
            (b"content-type", response.content_type),
            (b"x-request-id", request_id.encode()),
            *response.headers,
        ]
        if len(body) >= self._gzip_min and b"gzip" in headers.get(b"accept-encoding", b""):
            body = response.gzipped or zlib.compress(body, 5, wbits=31)
            out.append((b"content-encoding", b"gzip"))
            out.append((b"vary", b"accept-encoding"))
        out += self._cors.answer_headers(headers.get(b"origin"))
        await send_response(send, response.status, out, body, head=head, unread=unread)

    def _access_log(
        self, method: str, route: Route | None, path: str, *, status: int, started: float, request_id: str
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "http request",
                extra={
                    "http_method": method,
                    "route": route.template.source if route is not None else path,
                    "rpc": route.full_method if route is not None else None,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                    "request_id": request_id,
                },
            )


def _request_id(value: bytes | None) -> str:
    # A client's id is kept when it is a sane token; anything else is replaced, never rejected.
    if value and len(value) <= _MAX_REQUEST_ID:
        text = _header_text(value)
        if text and " " not in text:
            return text
    return new_id()


_header_text = header_text


def _tracestate(headers: dict[bytes, bytes]) -> str:
    value = _header_text(headers.get(b"tracestate"))
    return value if value and len(value) <= 512 else ""


def _is_json(content_type: bytes | None) -> bool:
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == JSON or (media.startswith(b"application/") and media.endswith(b"+json"))


def _with_head(methods: list[str]) -> list[str]:
    # Where GET is served, so is HEAD.
    return [m for method in methods for m in ((method, "HEAD") if method == "GET" else (method,))]


def _no_route(path: str, allowed: list[str]) -> Problem:
    if allowed:
        allowed = _with_head(allowed)
        return Problem(
            405,
            ErrorCode.METHOD_NOT_ALLOWED,
            f"{path} allows {', '.join(allowed)}",
            headers=[(b"allow", ", ".join(allowed).encode())],
        )
    return Problem(404, ErrorCode.ROUTE_NOT_FOUND, f"no operation is served at {path}")


def _rate_limited(decision: Decision) -> Problem:
    return Problem(
        429,
        ErrorCode.RATE_LIMITED,
        f"too many requests ({decision.policy.limit} per {decision.policy.window:g} s); "
        f"retry after {decision.retry_after_seconds} s",
    )


def _demo_image(path: str) -> Response:
    image = demo_image(path.removeprefix(DEMO_IMAGES_PREFIX))
    if image is None:
        raise _no_route(path, [])
    headers = [
        (b"cache-control", b"public, max-age=86400"),
        # An SVG opened on its own is a document: it may run nothing and load nothing.
        (b"content-security-policy", DEMO_IMAGE_POLICY),
    ]
    return Response(200, image, content_type=b"image/svg+xml", headers=headers)


async def _read(body: RequestBody) -> bytes:
    """The request's body; 413 beyond the limit, 400 for a malformed Content-Length."""
    try:
        return await body.read()
    except BodyTooLarge as error:
        raise Problem(
            413, ErrorCode.BODY_TOO_LARGE, f"the request body exceeds {error.limit} bytes"
        ) from error
    except InvalidContentLength as error:
        raise Problem(
            400, ErrorCode.INVALID_CONTENT_LENGTH, "Content-Length must be a non-negative integer"
        ) from error


def _problem_response(problem: Problem, request_id: str) -> Response:
    return Response(
        problem.status, orjson.dumps(problem.document(request_id)), PROBLEM_CONTENT_TYPE, problem.headers
    )


def _asset_response(asset: Asset) -> Response:
    return Response(200, asset.body, asset.content_type, gzipped=asset.gzipped)
