"""Identity benchmarks: tokens issued per second and login latency (argon2id), reported not hidden."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import statistics
import time
from typing import Any

import httpx

REDIRECT_URI = "http://localhost:8765/callback"


def client_credentials_token(token_url: str, client_id: str, secret: str, scope: str) -> str:
    """One access token for the confidential scripts client."""
    response = httpx.post(
        token_url,
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, secret),
        timeout=30,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def login_latency(auth_url: str, email: str, password: str, *, samples: int = 15) -> dict[str, Any]:
    """Wall time of the login form POST (argon2id verification inside), straight to the auth listener."""
    timings: list[float] = []
    for _ in range(samples):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        with httpx.Client(base_url=auth_url, timeout=30, follow_redirects=True) as client:
            page = client.get(
                "/oauth2/authorize",
                params={
                    "response_type": "code",
                    "client_id": "storefront",
                    "redirect_uri": REDIRECT_URI,
                    "scope": "openid",
                    "state": secrets.token_hex(8),
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                },
            )
            fields = dict(re.findall(r'name="(csrf_token|return_to)" value="([^"]*)"', page.text))
            started = time.perf_counter()
            answer = client.post(
                "/oauth2/login",
                data={"email": email, "password": password, **{k: _unescape(v) for k, v in fields.items()}},
                follow_redirects=False,
            )
            timings.append((time.perf_counter() - started) * 1000)
            if answer.status_code not in (302, 303):
                raise RuntimeError(f"login failed: {answer.status_code} {answer.text[:200]}")
    return {
        "samples": samples,
        "p50_ms": round(statistics.median(timings), 1),
        "max_ms": round(max(timings), 1),
    }


def _unescape(value: str) -> str:
    return (
        value.replace("&amp;", "&")
        .replace("&#34;", '"')
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
    )


def buyer_tokens(gateway_url: str, admin_token: str, token_url: str, *, count: int) -> list[str]:
    """Access tokens of ``count`` distinct callers for the flash sale.

    Each is a separately registered API client (client credentials, no roles): distinct token
    subjects without paying ``count`` argon2id logins before the measurement.
    """
    tokens: list[str] = []
    with httpx.Client(
        base_url=gateway_url, timeout=30, headers={"Authorization": f"Bearer {admin_token}"}
    ) as client:
        for index in range(count):
            registered = client.post(
                "/v1/oauth-clients",
                json={
                    "client": {
                        "name": f"Flash sale buyer {index}",
                        "clientType": "CLIENT_TYPE_CONFIDENTIAL",
                        "grantTypes": ["client_credentials"],
                        "allowedScopes": ["account"],
                    }
                },
            )
            if registered.status_code != 200:
                raise RuntimeError(
                    f"registering a buyer client: {registered.status_code} {registered.text[:300]}"
                )
            body = registered.json()
            tokens.append(
                client_credentials_token(
                    token_url, body["client"]["clientId"], body["clientSecret"], "account"
                )
            )
    return tokens
