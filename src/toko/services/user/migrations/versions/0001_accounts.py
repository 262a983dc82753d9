"""Accounts, single-use tokens, recovery codes, addresses, wishlists, shops, staff, and the platform tables.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import sqlalchemy as sa
from alembic import op

from toko.platform.schema import create_platform_tables, drop_platform_tables

if TYPE_CHECKING:
    from alembic.operations import Operations

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_UUID = sa.Uuid(as_uuid=False)
_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # ``op`` is the module-level proxy of the running Operations.
    create_platform_tables(cast("Operations", op))
    op.create_table(
        "users",
        sa.Column("id", _UUID, primary_key=True, comment="UUIDv7; kept when the account is deleted"),
        # Stored lowercase; a deleted account's becomes deleted-<id>@invalid, so the address is free again.
        sa.Column("email", sa.Text, nullable=False),
        sa.Column("email_verified", sa.Boolean, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False, comment="E.164, empty when none"),
        sa.Column("birth_date", sa.Date, nullable=True),
        sa.Column("avatar_url", sa.Text, nullable=False),
        sa.Column("password_hash", sa.Text, nullable=True, comment="argon2id PHC string; null once deleted"),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("shop_id", _UUID, nullable=True, comment="the shop owned or staffed, which makes a seller"),
        sa.Column("totp_secret", sa.Text, nullable=True, comment="base32; pending until totp_enabled"),
        sa.Column("totp_enabled", sa.Boolean, nullable=False),
        sa.Column("totp_last_step", sa.BigInteger, nullable=False, comment="last TOTP step used: no replay"),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.Column("deleted_at", _TZ, nullable=True),
        sa.UniqueConstraint("email", name="users_email_key"),
        sa.CheckConstraint("email = lower(email)", name="users_email_lowercase_check"),
    )
    op.create_table(
        "account_tokens",
        sa.Column(
            "digest", sa.Text, primary_key=True, comment="sha256 of the token; the token is never stored"
        ),
        sa.Column("user_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("purpose", sa.Text, nullable=False),
        sa.Column("expires_at", _TZ, nullable=False),
        sa.Column("used_at", _TZ, nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.CheckConstraint(
            "purpose IN ('verify_email', 'reset_password')", name="account_tokens_purpose_check"
        ),
    )
    op.create_index("account_tokens_user_id_idx", "account_tokens", ["user_id", "purpose"])
    op.create_table(
        "recovery_codes",
        sa.Column("user_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("used_at", _TZ, nullable=True),
        sa.PrimaryKeyConstraint("user_id", "digest", name="recovery_codes_pkey"),
    )
    op.create_table(
        "addresses",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("user_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("recipient", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("province", sa.Text, nullable=False),
        sa.Column("city", sa.Text, nullable=False),
        sa.Column("district", sa.Text, nullable=False),
        sa.Column("sub_district", sa.Text, nullable=False),
        sa.Column("postal_code", sa.Text, nullable=False),
        sa.Column("street", sa.Text, nullable=False),
        sa.Column("latitude", sa.Double, nullable=True),
        sa.Column("longitude", sa.Double, nullable=True),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.CheckConstraint("postal_code ~ '^[1-9][0-9]{4}$'", name="addresses_postal_code_check"),
        sa.CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="addresses_pin_check"),
    )
    op.create_index("addresses_user_id_idx", "addresses", ["user_id", "id"])
    # At most one default address per account, whatever the handlers do.
    op.create_index(
        "addresses_one_default_idx",
        "addresses",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("is_default"),
    )
    op.create_table(
        "wishlist_items",
        sa.Column("user_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("product_id", _UUID, nullable=False, comment="a product of the catalog, not checked here"),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("user_id", "product_id", name="wishlist_items_pkey"),
    )
    op.create_index(
        "wishlist_items_newest_idx", "wishlist_items", ["user_id", sa.text("created_at DESC"), "product_id"]
    )
    op.create_table(
        "wishlist_collections",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("user_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
    )
    op.create_index(
        "wishlist_collections_name_key",
        "wishlist_collections",
        ["user_id", sa.text("lower(name)")],
        unique=True,
    )
    op.create_table(
        "wishlist_collection_items",
        sa.Column(
            "collection_id",
            _UUID,
            sa.ForeignKey("wishlist_collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("user_id", _UUID, nullable=False),
        sa.Column("product_id", _UUID, nullable=False),
        sa.PrimaryKeyConstraint("collection_id", "product_id", name="wishlist_collection_items_pkey"),
        # Taking a product off the wishlist takes it out of every collection.
        sa.ForeignKeyConstraint(
            ["user_id", "product_id"],
            ["wishlist_items.user_id", "wishlist_items.product_id"],
            ondelete="CASCADE",
            name="wishlist_collection_items_item_fkey",
        ),
    )
    op.create_index(
        "wishlist_collection_items_item_idx", "wishlist_collection_items", ["user_id", "product_id"]
    )
    op.create_table(
        "shops",
        sa.Column("id", _UUID, primary_key=True),
        sa.Column("owner_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        # Unique among closed shops too: an old storefront link never leads to someone else's shop.
        sa.Column("domain", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("origin_city", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.UniqueConstraint("domain", name="shops_domain_key"),
        sa.CheckConstraint("status IN ('active', 'closed')", name="shops_status_check"),
    )
    # One open shop per owner.
    op.create_index(
        "shops_one_active_per_owner_idx",
        "shops",
        ["owner_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "shop_staff",
        sa.Column("shop_id", _UUID, sa.ForeignKey("shops.id"), nullable=False),
        # Unique: an account works for one shop at a time.
        sa.Column("user_id", _UUID, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("shop_id", "user_id", name="shop_staff_pkey"),
        sa.UniqueConstraint("user_id", name="shop_staff_user_id_key"),
    )


def downgrade() -> None:
    for table in (
        "shop_staff",
        "shops",
        "wishlist_collection_items",
        "wishlist_collections",
        "wishlist_items",
        "addresses",
        "recovery_codes",
        "account_tokens",
        "users",
    ):
        op.drop_table(table)
    drop_platform_tables(cast("Operations", op))
