"""OAuth clients, signing keys, codes, refresh tokens, issued access tokens, consents; platform tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)
_NOW = sa.text("now()")


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "clients",
        sa.Column("client_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("client_type", sa.Text, nullable=False),
        sa.Column("secret_hash", sa.Text, nullable=True, comment="sha256 of the secret; null when public"),
        sa.Column("redirect_uris", JSONB, nullable=False),
        sa.Column("post_logout_redirect_uris", JSONB, nullable=False),
        sa.Column("allowed_scopes", JSONB, nullable=False),
        sa.Column("grant_types", JSONB, nullable=False),
        sa.Column("first_party", sa.Boolean, nullable=False),
        sa.Column("roles", JSONB, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=_NOW),
        sa.CheckConstraint("client_type IN ('public', 'confidential')", name="clients_type_check"),
        sa.CheckConstraint("(client_type = 'public') = (secret_hash IS NULL)", name="clients_secret_check"),
    )
    op.create_index("clients_created_at_idx", "clients", ["created_at", "client_id"])
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.Text, primary_key=True),
        sa.Column("private_key", sa.LargeBinary, nullable=False, comment="AES-GCM encrypted PKCS#8 PEM"),
        sa.Column("public_jwk", JSONB, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("signs_from", _TIME, nullable=False, comment="published ahead; signs from then on"),
        sa.Column("retired_at", _TIME, nullable=True, comment="stops signing then"),
        sa.Column("expires_at", _TIME, nullable=True, comment="no longer published after this"),
    )
    op.create_table(
        "authorization_codes",
        sa.Column("code_hash", sa.Text, primary_key=True),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("scope", ARRAY(sa.Text), nullable=False),
        sa.Column("nonce", sa.Text, nullable=False),
        sa.Column("code_challenge", sa.Text, nullable=False),
        sa.Column("auth_time", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("family_id", sa.Text, nullable=False, comment="the grant every token issued from it joins"),
        sa.Column("used_at", _TIME, nullable=True),
    )
    op.create_index("authorization_codes_expires_at_idx", "authorization_codes", ["expires_at"])
    op.create_table(
        "refresh_tokens",
        sa.Column("token_hash", sa.Text, primary_key=True),
        sa.Column("family_id", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("scope", ARRAY(sa.Text), nullable=False),
        sa.Column("auth_time", _TIME, nullable=False),
        sa.Column("created_at", _TIME, nullable=False, server_default=_NOW),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("used_at", _TIME, nullable=True, comment="rotated: a later use is a reuse"),
        sa.Column("revoked_at", _TIME, nullable=True),
    )
    op.create_index("refresh_tokens_family_id_idx", "refresh_tokens", ["family_id"])
    op.create_index("refresh_tokens_user_id_idx", "refresh_tokens", ["user_id"])
    op.create_index("refresh_tokens_client_id_idx", "refresh_tokens", ["client_id"])
    op.create_index("refresh_tokens_expires_at_idx", "refresh_tokens", ["expires_at"])
    # Access tokens of user grants, so revoking a grant can deny-list the ones still valid.
    op.create_table(
        "access_tokens",
        sa.Column("jti", sa.Text, primary_key=True),
        sa.Column("family_id", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
    )
    op.create_index("access_tokens_family_id_idx", "access_tokens", ["family_id"])
    op.create_index("access_tokens_user_id_idx", "access_tokens", ["user_id"])
    op.create_index("access_tokens_client_id_idx", "access_tokens", ["client_id"])
    op.create_index("access_tokens_expires_at_idx", "access_tokens", ["expires_at"])
    op.create_table(
        "consents",
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("scopes", ARRAY(sa.Text), nullable=False),
        sa.Column("updated_at", _TIME, nullable=False, server_default=_NOW),
        sa.PrimaryKeyConstraint("user_id", "client_id", name="consents_pkey"),
    )


def downgrade() -> None:
    for table in ("consents", "access_tokens", "refresh_tokens", "authorization_codes", "signing_keys"):
        op.drop_table(table)
    op.drop_table("clients")
    drop_platform_tables(cast("Operations", op))
