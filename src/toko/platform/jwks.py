"""Where the public keys that sign access tokens come from: a JWKS document, static or fetched.

``RemoteJwks`` fetches the auth service's ``/oauth2/jwks`` over HTTP, keeps the keys
in memory and fetches again when asked for a key id it does not know (a rotation)
or when its copy is older than ``max_age`` (a key withdrawn early) — but never more
than once per ``min_interval`` seconds, so tokens with made-up key ids cannot turn
the verifier into a flood of requests to the auth service. Concurrent refreshes
share one fetch. A failed fetch keeps the keys already known, and the next one may
come after ``retry_interval`` rather than ``min_interval``: an auth service too busy
to answer once (argon2 sign-ins saturating its cores) must not leave every new token
refused for the whole interval.

``StaticJwks`` holds a fixed document (tests, or ``TOKO_AUTH_JWKS`` in air-gapped setups).

Only EC P-256 signing keys (what ES256 needs) are taken from a document; any other
key is skipped, so a key set can never offer a key of another type to the verifier.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import orjson
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from joserfc.errors import JoseError
from joserfc.jwk import ECKey

__all__ = ["KeySource", "RemoteJwks", "StaticJwks", "parse_jwks"]

log = logging.getLogger(__name__)

PublicKeys = Mapping[str, EllipticCurvePublicKey]


class KeySource(Protocol):
    """The verifier's view of a key set."""

    def get(self, kid: str) -> EllipticCurvePublicKey | None:
        """The ES256 public key with id ``kid``, if known."""
        ...

    def needs_refresh(self, kid: str) -> bool:
        """True when ``kid`` is unknown (or the keys are old) and a refresh is allowed now."""
        ...

    async def refresh(self) -> None:
        """Fetch the key set again (shared by concurrent callers); keep the old keys on failure."""
        ...

    @property
    def reachable(self) -> bool:
        """False while the last fetch failed: an unknown key may then be one not fetched yet."""
        ...


def parse_jwks(document: Mapping[str, Any]) -> dict[str, EllipticCurvePublicKey]:
    """The ES256 verification keys of a JWKS document, by key id; other keys are skipped."""
    keys: dict[str, EllipticCurvePublicKey] = {}
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ValueError("a JWKS document needs a 'keys' list")
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "EC" or entry.get("crv") != "P-256":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", "ES256") != "ES256" or "d" in entry:
            # A private key in a public document is a publishing mistake; never use it.
            continue
        try:
            key = ECKey.import_key(entry).get_op_key("verify")
        except (JoseError, ValueError, TypeError) as error:
            log.warning("skipping an unreadable JWKS key", extra={"kid": kid, "error": str(error)})
            continue
        if isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1):
            keys[kid] = key
    return keys


class StaticJwks:
    """A fixed key set."""

    def __init__(self, document: Mapping[str, Any] | str | bytes) -> None:
        parsed = orjson.loads(document) if isinstance(document, str | bytes) else document
        self._keys = parse_jwks(parsed)

    def get(self, kid: str) -> EllipticCurvePublicKey | None:
        """The key with id ``kid``."""
        return self._keys.get(kid)

    def needs_refresh(self, kid: str) -> bool:
        """Never: there is nothing to fetch."""
        return False

    async def refresh(self) -> None:
        """Nothing to do."""

    @property
    def reachable(self) -> bool:
        """A fixed document is always at hand."""
        return True


class RemoteJwks:
    """A key set fetched over HTTP on demand, at most once per ``min_interval`` seconds."""

    def __init__(
        self,
        url: str,
        *,
        min_interval: float = 10.0,
        max_age: float = 300.0,
        timeout: float = 5.0,
        retry_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url
        self._min_interval = min_interval
        self._retry_interval = min(retry_interval, min_interval)
        self._max_age = max_age
        self._timeout = timeout
        self._clock = clock
        self._transport = transport
        self._keys: dict[str, EllipticCurvePublicKey] = {}
        self._fetched_at = -math.inf
        self._attempted_at = -math.inf
        self._inflight: asyncio.Future[None] | None = None
        self._failed = False
        self.fetches = 0

    @property
    def reachable(self) -> bool:
        """False while the last fetch failed."""
        return not self._failed

    def get(self, kid: str) -> EllipticCurvePublicKey | None:
        """The key with id ``kid``, as of the last successful fetch."""
        return self._keys.get(kid)

    def needs_refresh(self, kid: str) -> bool:
        """True when the key is unknown or the copy is old, unless a fetch was tried just now."""
        now = self._clock()
        if self._inflight is not None:
            return True
        if now - self._attempted_at < self._min_interval:
            return False
        return kid not in self._keys or now - self._fetched_at > self._max_age

    async def refresh(self) -> None:
        """Fetch the document again; callers arriving during a fetch wait for the same one."""
        if self._inflight is None:
            if self._clock() - self._attempted_at < self._min_interval:
                return
            self._attempted_at = self._clock()
            self._inflight = asyncio.ensure_future(self._fetch())
            self._inflight.add_done_callback(self._done)
        await asyncio.shield(self._inflight)

    def _done(self, _: asyncio.Future[None]) -> None:
        self._inflight = None

    async def _fetch(self) -> None:
        self.fetches += 1
        try:
            # A client per fetch: fetches are rare, and nothing is left open between them.
            async with httpx.AsyncClient(timeout=self._timeout, transport=self._transport) as client:
                response = await client.get(self.url, headers={"accept": "application/json"})
                response.raise_for_status()
                keys = parse_jwks(orjson.loads(response.content))
        # Any failure to fetch (a refused connection, a half-written answer) means auth is out of reach:
        # the caller answers UNAVAILABLE, never 401 for a key it could not check.
        except Exception as error:
            log.warning(
                "cannot fetch the JWKS; keeping the known keys", extra={"url": self.url, "error": str(error)}
            )
            # Allowed again after the retry interval, not the whole minimum interval.
            self._attempted_at = self._clock() - self._min_interval + self._retry_interval
            self._failed = True
            return
        self._failed = False
        self._keys = keys
        self._fetched_at = self._clock()
