"""Fetching the signing keys over HTTP: on first use, on rotation, never in a flood, and surviving an outage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from toko.platform.auth import JwtAuthenticator, authenticate
from toko.platform.errors import Unauthenticated, Unavailable
from toko.platform.jwks import RemoteJwks
from toko.platform.testing_auth import TEST_ISSUER, TokenIssuer, bearer


@dataclass
class JwksServer:
    """A tiny HTTP/1.1 server answering every request with ``document`` (a real socket, not a mock)."""

    document: dict[str, Any]
    requests: int = 0
    server: asyncio.Server | None = None
    port: int = 0
    keys: list[TokenIssuer] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests += 1
        body = orjson.dumps(self.document)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def publish(self, *issuers: TokenIssuer) -> None:
        self.document = {"keys": [key for issuer in issuers for key in issuer.jwks["keys"]]}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/oauth2/jwks"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def jwks_server() -> AsyncIterator[JwksServer]:
    server = JwksServer({"keys": []})
    await server.start()
    yield server
    await server.stop()


async def test_keys_are_fetched_on_first_use_and_again_on_rotation(jwks_server: JwksServer) -> None:
    old, new = TokenIssuer(), TokenIssuer()
    jwks_server.publish(old)
    clock = Clock()
    keys = RemoteJwks(jwks_server.url, min_interval=10, clock=clock)
    verifier = JwtAuthenticator(keys, issuer=TEST_ISSUER)

    assert (await authenticate(verifier, bearer(old.mint(sub="u1")))).subject == "u1"
    assert jwks_server.requests == 1
    assert (await authenticate(verifier, bearer(old.mint(sub="u2")))).subject == "u2"
    assert jwks_server.requests == 1  # known key: no fetch

    jwks_server.publish(old, new)  # the auth service rotated
    clock.now += 11
    assert (await authenticate(verifier, bearer(new.mint(sub="u3")))).subject == "u3"
    assert jwks_server.requests == 2


async def test_unknown_key_ids_cause_at_most_one_fetch_per_interval(jwks_server: JwksServer) -> None:
    trusted = TokenIssuer()
    jwks_server.publish(trusted)
    clock = Clock()
    verifier = JwtAuthenticator(RemoteJwks(jwks_server.url, min_interval=10, clock=clock), issuer=TEST_ISSUER)
    forged = [bearer(TokenIssuer(kid=f"made-up-{n}").mint(sub="x", roles=["admin"])) for n in range(20)]

    results = await asyncio.gather(
        *(authenticate(verifier, header) for header in forged), return_exceptions=True
    )

    assert all(isinstance(result, Unauthenticated) for result in results)
    assert {result.message for result in results if isinstance(result, Unauthenticated)} == {
        "the token is signed by an unknown key"
    }
    assert jwks_server.requests == 1
    clock.now += 11
    with pytest.raises(Unauthenticated):
        await authenticate(verifier, forged[0])
    assert jwks_server.requests == 2


async def test_known_keys_survive_an_outage_of_the_auth_service(jwks_server: JwksServer) -> None:
    issuer = TokenIssuer()
    jwks_server.publish(issuer)
    clock = Clock()
    verifier = JwtAuthenticator(
        RemoteJwks(jwks_server.url, min_interval=1, max_age=60, clock=clock), issuer=TEST_ISSUER
    )
    assert (await authenticate(verifier, bearer(issuer.mint(sub="u1")))).subject == "u1"
    await jwks_server.stop()
    clock.now += 120  # the copy is old: the next miss tries to fetch, fails, and keeps the keys
    assert (await authenticate(verifier, bearer(issuer.mint(sub="u2")))).subject == "u2"
    await jwks_server.start()  # same port, for the fixture's stop


async def test_a_withdrawn_key_is_no_longer_trusted_once_the_copy_is_refreshed(
    jwks_server: JwksServer,
) -> None:
    compromised, replacement = TokenIssuer(), TokenIssuer()
    jwks_server.publish(compromised, replacement)
    clock = Clock()
    verifier = JwtAuthenticator(
        RemoteJwks(jwks_server.url, min_interval=1, max_age=60, clock=clock), issuer=TEST_ISSUER
    )
    assert (await authenticate(verifier, bearer(compromised.mint(sub="u1")))).subject == "u1"
    jwks_server.publish(replacement)
    clock.now += 61
    with pytest.raises(Unauthenticated, match="unknown key"):
        await authenticate(verifier, bearer(compromised.mint(sub="u2")))


async def test_a_failed_fetch_is_tried_again_after_the_retry_interval_not_the_whole_interval(
    jwks_server: JwksServer,
) -> None:
    issuer = TokenIssuer()
    jwks_server.publish(issuer)
    clock = Clock()
    keys = RemoteJwks(jwks_server.url, min_interval=10, retry_interval=1, clock=clock)
    await jwks_server.stop()
    await keys.refresh()  # the auth service does not answer: nothing known yet
    unknown_at_once = keys.needs_refresh("any")
    await jwks_server.start()  # same port
    clock.now += 1.5
    retried = keys.needs_refresh("any")
    await keys.refresh()

    assert not unknown_at_once
    assert retried
    assert keys.get(issuer.jwks["keys"][0]["kid"]) is not None


async def test_a_token_whose_keys_cannot_be_fetched_is_retryable_not_refused(jwks_server: JwksServer) -> None:
    issuer = TokenIssuer()
    jwks_server.publish(issuer)
    verifier = JwtAuthenticator(
        RemoteJwks(jwks_server.url, min_interval=10, clock=Clock()), issuer=TEST_ISSUER
    )
    await jwks_server.stop()

    with pytest.raises(Unavailable) as outage:
        await authenticate(verifier, bearer(issuer.mint(sub="u1")))
    await jwks_server.start()  # same port, for the fixture's stop

    assert outage.value.reason == "DEPENDENCY_UNAVAILABLE"
