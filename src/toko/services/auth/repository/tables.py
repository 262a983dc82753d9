"""The provider's tables (SQLAlchemy Core), as the migrations create them."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, LargeBinary, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()
_TIME = DateTime(timezone=True)

clients = Table(
    "clients",
    metadata,
    Column("client_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("client_type", Text, nullable=False),
    Column("secret_hash", Text),
    Column("redirect_uris", JSONB, nullable=False),
    Column("post_logout_redirect_uris", JSONB, nullable=False),
    Column("allowed_scopes", JSONB, nullable=False),
    Column("grant_types", JSONB, nullable=False),
    Column("first_party", Boolean, nullable=False),
    Column("roles", JSONB, nullable=False),
    Column("created_at", _TIME, nullable=False),
)
signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", Text, primary_key=True),
    Column("private_key", LargeBinary, nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    Column("created_at", _TIME, nullable=False),
    Column("signs_from", _TIME, nullable=False),
    Column("retired_at", _TIME),
    Column("expires_at", _TIME),
)
authorization_codes = Table(
    "authorization_codes",
    metadata,
    Column("code_hash", Text, primary_key=True),
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", ARRAY(Text), nullable=False),
    Column("nonce", Text, nullable=False),
    Column("code_challenge", Text, nullable=False),
    Column("auth_time", _TIME, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("family_id", Text, nullable=False),
    Column("used_at", _TIME),
)
refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("family_id", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("scope", ARRAY(Text), nullable=False),
    Column("auth_time", _TIME, nullable=False),
    Column("created_at", _TIME, nullable=False),
    Column("expires_at", _TIME, nullable=False),
    Column("used_at", _TIME),
    Column("revoked_at", _TIME),
)
access_tokens = Table(
    "access_tokens",
    metadata,
    Column("jti", Text, primary_key=True),
    Column("family_id", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("user_id", Text, nullable=False),
    Column("expires_at", _TIME, nullable=False),
)
consents = Table(
    "consents",
    metadata,
    Column("user_id", Text, primary_key=True),
    Column("client_id", Text, primary_key=True),
    Column("scopes", ARRAY(Text), nullable=False),
    Column("updated_at", _TIME, nullable=False),
)
