"""The provider's pure rules: client registration, redirect URIs, scopes, PKCE values, key schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from toko.platform.rules import ValidationFailed
from toko.services.auth.domain import (
    ClientSpec,
    ClientType,
    KeyPolicy,
    SigningKey,
    UserClaims,
    granted_scopes,
    valid_code_challenge,
    valid_code_verifier,
    validate_client,
)


def spec(**changes: object) -> ClientSpec:
    base: dict[str, object] = {
        "name": "Aplikasi",
        "client_type": ClientType.CONFIDENTIAL,
        "redirect_uris": ("https://app.example/cb",),
        "allowed_scopes": ("openid",),
        "grant_types": ("authorization_code",),
    }
    return ClientSpec(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/cb",
        "http://127.0.0.1:8765/callback",
        "http://localhost/cb",
        "https://a.example/c?x=1",
    ],
)
def test_acceptable_redirect_uris(uri: str) -> None:
    assert validate_client(spec(redirect_uris=(uri,))).redirect_uris == (uri,)


@pytest.mark.parametrize(
    "uri",
    [
        "http://app.example/cb",
        "https://app.example/cb#frag",
        "/relative",
        "javascript:alert(1)",
        "https://user:pw@app.example/cb",
        "ftp://app.example/cb",
    ],
)
def test_refused_redirect_uris(uri: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        validate_client(spec(redirect_uris=(uri,)))
    assert error.value.violations[0].reason == "INVALID_REDIRECT_URI"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"allowed_scopes": ("openid", "superpower")}, "UNKNOWN_SCOPE"),
        ({"grant_types": ("implicit",)}, "UNSUPPORTED_GRANT_TYPE"),
        ({"grant_types": ("password",)}, "UNSUPPORTED_GRANT_TYPE"),
        ({"client_type": ClientType.PUBLIC, "grant_types": ("client_credentials",)}, "PUBLIC_CLIENT_GRANT"),
        ({"roles": ("admin",)}, "ROLES_NOT_ALLOWED"),
        ({"grant_types": ("client_credentials",), "roles": ("service",)}, "UNKNOWN_ROLE"),
        ({"redirect_uris": ()}, "REDIRECT_URI_REQUIRED"),
        ({"name": " "}, "INVALID_NAME"),
        ({"name": "\u200b\u2060\ufeff"}, "INVALID_NAME"),
        ({"name": "toko \u202eerots"}, "INVALID_NAME"),
        ({"client_type": None}, "INVALID_CLIENT_TYPE"),
    ],
)
def test_refused_registrations(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationFailed) as error:
        validate_client(spec(**changes))
    assert reason in {v.reason for v in error.value.violations}


@given(
    st.sets(st.sampled_from(["openid", "email", "admin", "account"])),
    st.sets(st.sampled_from(["openid", "email"])),
)
def test_granted_scopes_never_exceed_the_allowed(requested: set[str], allowed: set[str]) -> None:
    granted = granted_scopes(requested, allowed)
    assert (granted is None) == (not requested <= allowed)
    if granted is not None:
        assert set(granted) <= allowed


@given(st.text(alphabet="ABCxyz019-._~", min_size=43, max_size=128))
def test_verifiers_of_the_rfc_alphabet_are_valid(verifier: str) -> None:
    assert valid_code_verifier(verifier)


@pytest.mark.parametrize("value", ["", "a" * 42, "a" * 129, "a" * 42 + "+", "a" * 42 + "="])
def test_malformed_pkce_values(value: str) -> None:
    assert not valid_code_verifier(value) or not valid_code_challenge(value)


def test_key_schedule_publishes_ahead_and_retires_after_the_last_token() -> None:
    now = datetime(2025, 8, 17, tzinfo=UTC)
    policy = KeyPolicy(
        rotate_after=timedelta(days=30), longest_token=timedelta(minutes=15), leeway=timedelta(minutes=1)
    )
    assert policy.schedule(now, first=True) == (now, now + timedelta(minutes=16))
    signs_from, old_until = policy.schedule(now, first=False)
    assert signs_from == now + timedelta(seconds=90)
    assert old_until == signs_from + timedelta(minutes=16)
    key = SigningKey(kid="k", created_at=now, signs_from=signs_from)
    assert not key.signs(now)
    assert key.signs(signs_from)
    assert not policy.needs_rotation(key, now + timedelta(days=29))
    assert policy.needs_rotation(key, now + timedelta(days=30))
    assert policy.needs_rotation(None, now)


def test_scopes_release_claims() -> None:
    claims = UserClaims(user_id="u", email="a@b.id", email_verified=True, name="Ani", phone="")
    assert claims.released(["openid"]) == {"sub": "u"}
    assert claims.released(["openid", "email", "phone"]) == {
        "sub": "u",
        "email": "a@b.id",
        "email_verified": True,
    }
