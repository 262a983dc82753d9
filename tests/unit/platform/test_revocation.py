"""The in-memory list of revoked access tokens, and the verifier refusing what it holds."""

from __future__ import annotations

import time

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from toko.auth.v1.events_pb2 import AccessTokensRevoked, RevocationCause, RevokedAccessToken
from toko.platform.auth import JwtAuthenticator
from toko.platform.errors import Unauthenticated
from toko.platform.revocation import RevokedTokens
from toko.platform.testing_auth import TokenIssuer, bearer


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def revocation(*tokens: tuple[str, float]) -> AccessTokensRevoked:
    return AccessTokensRevoked(
        tokens=[RevokedAccessToken(jti=jti, expire_time=Timestamp(seconds=int(exp))) for jti, exp in tokens]
    )


def test_a_revoked_token_is_kept_until_it_has_expired_anyway() -> None:
    clock = Clock()
    revoked = RevokedTokens(clock=clock, leeway=30)
    revoked.apply(revocation(("live", clock.now + 600), ("gone", clock.now - 60)))
    assert "live" in revoked
    assert "gone" not in revoked  # already refused for its exp; nothing to remember

    clock.now += 600 + 29  # still within the verifiers' leeway past exp
    revoked.prune()
    assert "live" in revoked
    clock.now += 2
    revoked.prune()
    assert "live" not in revoked
    assert len(revoked) == 0


def test_the_verifier_refuses_a_revoked_token_it_had_already_accepted(token_issuer: TokenIssuer) -> None:
    revoked = RevokedTokens()
    verifier: JwtAuthenticator = token_issuer.authenticator(revoked=revoked)
    token = token_issuer.mint(sub="u-1", roles=["buyer"])
    principal = verifier.authenticate(bearer(token))  # verified, and now in the verifier's cache

    revoked.apply(revocation((principal.token_id, time.time() + 600)))
    with pytest.raises(Unauthenticated) as caught:
        verifier.authenticate(bearer(token))
    assert caught.value.reason == "INVALID_TOKEN"
    assert "revoked" in str(caught.value)
    # Other tokens of the same user are untouched.
    assert verifier.authenticate(bearer(token_issuer.mint(sub="u-1", roles=["buyer"]))).subject == "u-1"


def test_a_token_revoked_because_roles_changed_says_to_refresh_it(token_issuer: TokenIssuer) -> None:
    revoked = RevokedTokens()
    verifier: JwtAuthenticator = token_issuer.authenticator(revoked=revoked)
    token = token_issuer.mint(sub="u-2", roles=["buyer"])
    principal = verifier.authenticate(bearer(token))

    event = revocation((principal.token_id, time.time() + 600))
    event.cause = RevocationCause.REVOCATION_CAUSE_ROLES_CHANGED
    revoked.apply(event)

    with pytest.raises(Unauthenticated) as caught:
        verifier.authenticate(bearer(token))
    assert caught.value.reason == "TOKEN_ROLES_CHANGED"
    assert "refresh" in caught.value.message
