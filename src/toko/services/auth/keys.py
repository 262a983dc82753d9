"""Secrets and signing keys: the master secret, encrypted private keys, rotation, JWTs.

Key storage. Signing keys (EC P-256, ES256) live in the ``signing_keys`` table so
that every replica signs with the same key and publishes the same JWKS. The
private key is sealed (``toko.platform.secrets``: AES-256-GCM, the key id as
associated data) under a key derived from the service's master secret in
``<data dir>/auth/secret.key``, never in the database, so a database dump alone
does not leak a signing key. The same secret, through another HKDF label, signs
the login-session and CSRF cookies.

Rotation. A new key is published at once but signs only ``publish_ahead`` later
(90 s by default), so that verifiers caching the JWKS know it before the first
token it signed reaches them; at that moment the old key retires (stops
signing) and stays in the JWKS until every token it signed has expired
(longest token lifetime plus leeway), then it is deleted. Rotation runs
when the newest key is older than the rotation period (checked at start and
hourly) or on ``RotateSigningKey``; an advisory lock keeps replicas from
rotating twice. Each replica re-reads the keys at most every
``REFRESH_SECONDS``, and at once when asked to verify a token of an unknown kid.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import ECKey, KeySet
from joserfc.jwt import JWTClaimsRegistry

from toko.platform.clock import Clock, utcnow
from toko.platform.db import Database
from toko.platform.secrets import Sealer
from toko.services.auth.domain import ACCESS_TOKEN_AUDIENCE, SIGNING_ALGORITHM, KeyPolicy, SigningKey
from toko.services.auth.repository.signing_keys import SigningKeyRepository

REFRESH_SECONDS = 30.0


@dataclass
class KeyRing:
    """The signing keys of the provider: the one that signs, and the ones still published."""

    database: Database
    cipher: Sealer
    policy: KeyPolicy
    clock: Clock = field(default=utcnow)
    _signing: ECKey | None = field(default=None, init=False)
    _published: KeySet = field(default_factory=lambda: KeySet([]), init=False)
    _loaded_at: float = field(default=float("-inf"), init=False)
    _next_change: datetime | None = field(default=None, init=False)

    async def ensure_current(self, *, force: bool = False) -> str:
        """Create a new key when the policy (or ``force``) says so; return the newest kid."""
        now = self.clock()
        async with self.database.unit_of_work("auth") as uow:
            repository = SigningKeyRepository(uow.session)
            await repository.lock_key_rotation()
            keys = [_key(row) for row in await repository.signing_key_rows(now)]
            newest = keys[0] if keys else None
            if force or self.policy.needs_rotation(newest, now):
                key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": SIGNING_ALGORITHM})
                kid = key.thumbprint()
                signs_from, old_keys_until = self.policy.schedule(now, first=not keys)
                public = dict(key.as_dict(private=False, kid=kid, use="sig", alg=SIGNING_ALGORITHM))
                await repository.add_signing_key(
                    kid=kid,
                    private_key=self.cipher.seal(kid, key.as_pem(private=True)),
                    public_jwk={k: str(v) for k, v in public.items()},
                    created_at=now,
                    signs_from=signs_from,
                )
                await repository.retire_signing_keys(
                    except_kid=kid, retired_at=signs_from, expires_at=old_keys_until
                )
                newest_kid = kid
            else:
                assert newest is not None  # needs_rotation is True without one
                newest_kid = newest.kid
            await repository.purge_expired_keys(now)
            await uow.commit()
        await self.reload()
        return newest_kid

    async def reload(self) -> None:
        """Read the keys again from the database."""
        now = self.clock()
        async with self.database.sessions() as session:
            rows = await SigningKeyRepository(session).signing_key_rows(now)
        signing = next((row for row in rows if _key(row).signs(now)), None)
        if signing is not None:
            pem = self.cipher.open(signing.kid, signing.private_key)
            self._signing = ECKey.import_key(
                pem, parameters={"kid": signing.kid, "use": "sig", "alg": SIGNING_ALGORITHM}
            )
            # Re-read when the next key takes over (or this one retires), not only every REFRESH_SECONDS.
            changes = [
                t for row in rows for t in (row.signs_from, row.retired_at) if t is not None and t > now
            ]
            self._next_change = min(changes) if changes else None
        else:
            self._signing = None
            self._next_change = None
        self._published = KeySet([ECKey.import_key(dict(row.public_jwk)) for row in rows])
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        due = self._next_change is not None and self.clock() >= self._next_change
        if due or time.monotonic() - self._loaded_at > REFRESH_SECONDS:
            await self.reload()

    async def signing_key(self) -> ECKey:
        """The key that signs now."""
        await self._fresh()
        if self._signing is None:
            await self.ensure_current()
        assert self._signing is not None
        return self._signing

    async def jwks(self) -> dict[str, Any]:
        """The published public keys, as a JWK set."""
        await self._fresh()
        return {"keys": [key.as_dict(private=False) for key in self._published]}

    async def published_kids(self) -> list[str]:
        """Key ids in the JWKS."""
        await self._fresh()
        return [str(key.kid) for key in self._published]

    async def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` signed with the current key (ES256)."""
        key = await self.signing_key()
        return jwt.encode(
            {**header, "alg": SIGNING_ALGORITHM, "kid": key.kid}, claims, key, algorithms=[SIGNING_ALGORITHM]
        )

    async def verify(
        self, token: str, *, issuer: str, typ: str | None, audience: str | None, check_expiry: bool = True
    ) -> dict[str, Any]:
        """Claims of a token this provider signed and that is still valid; raise ``InvalidToken`` otherwise.

        ``check_expiry`` False accepts an expired token (an ``id_token_hint`` at logout).
        """
        await self._fresh()
        try:
            return self._verify(token, issuer=issuer, typ=typ, audience=audience, check_expiry=check_expiry)
        except _UnknownKid:
            # A key another replica created since our last read.
            if time.monotonic() - self._loaded_at > 1.0:
                await self.reload()
                try:
                    return self._verify(
                        token, issuer=issuer, typ=typ, audience=audience, check_expiry=check_expiry
                    )
                except _UnknownKid:
                    pass
            raise InvalidToken("unknown key") from None

    def _verify(
        self, token: str, *, issuer: str, typ: str | None, audience: str | None, check_expiry: bool
    ) -> dict[str, Any]:
        try:
            decoded = jwt.decode(token, self._published, algorithms=[SIGNING_ALGORITHM])
        except InvalidKeyIdError as exc:
            raise _UnknownKid from exc
        except JoseError as exc:
            raise InvalidToken(str(exc)) from exc
        except ValueError as exc:
            raise InvalidToken("malformed token") from exc
        if typ is not None and decoded.header.get("typ") != typ:
            raise InvalidToken("wrong token type")
        options: dict[str, Any] = {"iss": {"essential": True, "value": issuer}, "exp": {"essential": True}}
        if audience is not None:
            options["aud"] = {"essential": True, "value": audience}
        claims = dict(decoded.claims)
        if not check_expiry:
            claims.pop("exp", None)
            claims.pop("nbf", None)
            options.pop("exp")
        try:
            JWTClaimsRegistry(leeway=30, **options).validate(claims)
        except JoseError as exc:
            raise InvalidToken(str(exc)) from exc
        return dict(decoded.claims)

    async def verify_access_token(self, token: str, *, issuer: str) -> dict[str, Any]:
        """Claims of a valid access token (RFC 9068 profile) this provider issued."""
        return await self.verify(token, issuer=issuer, typ="at+jwt", audience=ACCESS_TOKEN_AUDIENCE)


def _key(row: Any) -> SigningKey:
    return SigningKey(
        kid=row.kid,
        created_at=row.created_at,
        signs_from=row.signs_from,
        retired_at=row.retired_at,
        expires_at=row.expires_at,
    )


class InvalidToken(Exception):
    """A token is malformed, forged, expired or not ours."""


class _UnknownKid(Exception):
    pass
