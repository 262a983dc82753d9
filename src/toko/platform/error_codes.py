"""Reasons: the stable, machine-readable codes every error a client can cause carries.

A reason travels as ``google.rpc.ErrorInfo.reason`` and as the ``reason`` of a problem
document, so clients branch on it; never rename one, add a new one instead.

``ReasonCode`` is the type of every reason (``DomainError.reason``): a ``StrEnum`` with no
members of its own, so a bare string where a reason belongs is a mypy error. ``CommonReason``
holds the reasons the platform itself raises (page tokens, ids, tokens and roles,
idempotency keys, outages); each service adds its own in ``<service>/error_codes.py`` as
``class ErrorCode(ReasonCode)``. A service may repeat a common reason (``VALIDATION_FAILED``)
under its own enum: the wire value is the same string.
"""

from __future__ import annotations

from enum import StrEnum


class ReasonCode(StrEnum):
    """Base of every reason enum (platform and services); has no members itself."""


class CommonReason(ReasonCode):
    """Reasons raised by the platform, the same in every service."""

    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_ID = "INVALID_ID"
    INVALID_UPDATE_MASK = "INVALID_UPDATE_MASK"
    # Listings.
    INVALID_PAGE_TOKEN = "INVALID_PAGE_TOKEN"  # noqa: S105 - a reason, not a secret
    PAGE_SIZE_OUT_OF_RANGE = "PAGE_SIZE_OUT_OF_RANGE"
    # Values no store accepts (toko.platform.inputs).
    NUL_CHARACTER = "NUL_CHARACTER"
    TIMESTAMP_OUT_OF_RANGE = "TIMESTAMP_OUT_OF_RANGE"
    # Who is calling.
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    INVALID_AUTHORIZATION = "INVALID_AUTHORIZATION"
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105 - a reason, not a secret
    # A token revoked because the account's roles or shop changed: refreshing it gives the new ones.
    TOKEN_ROLES_CHANGED = "TOKEN_ROLES_CHANGED"  # noqa: S105 - a reason, not a secret
    ROLE_REQUIRED = "ROLE_REQUIRED"
    SCOPE_REQUIRED = "SCOPE_REQUIRED"
    NOT_SHOP_OWNER = "NOT_SHOP_OWNER"
    # Retried writes.
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    IDEMPOTENCY_KEY_IN_USE = "IDEMPOTENCY_KEY_IN_USE"
    # Retryable failures: a dependency out of reach, a transaction PostgreSQL rolled back.
    DEPENDENCY_UNAVAILABLE = "DEPENDENCY_UNAVAILABLE"
    TRANSACTION_CONFLICT = "TRANSACTION_CONFLICT"
