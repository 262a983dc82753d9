"""The user service's tables (SQLAlchemy Core), as the migrations create them.

The domain stays plain dataclasses; the repositories map rows to and from them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Double,
    ForeignKey,
    ForeignKeyConstraint,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
)
from sqlalchemy.dialects.postgresql import ARRAY

metadata = MetaData()
_UUID = Uuid(as_uuid=False)
_TZ = DateTime(timezone=True)

users = Table(
    "users",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("email", Text, nullable=False, unique=True),
    Column("email_verified", Boolean, nullable=False),
    Column("name", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("birth_date", Date, nullable=True),
    Column("avatar_url", Text, nullable=False),
    Column("language", Text, nullable=False),
    Column("password_hash", Text, nullable=True),
    Column("is_admin", Boolean, nullable=False),
    Column("shop_id", _UUID, nullable=True),
    Column("totp_secret", Text, nullable=True),
    Column("totp_enabled", Boolean, nullable=False),
    Column("totp_last_step", BigInteger, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
    Column("deleted_at", _TZ, nullable=True),
)

account_tokens = Table(
    "account_tokens",
    metadata,
    Column("digest", Text, primary_key=True),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("purpose", Text, nullable=False),
    Column("expires_at", _TZ, nullable=False),
    Column("used_at", _TZ, nullable=True),
    Column("created_at", _TZ, nullable=False),
)

recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("digest", Text, nullable=False),
    Column("used_at", _TZ, nullable=True),
    PrimaryKeyConstraint("user_id", "digest", name="recovery_codes_pkey"),
)

addresses = Table(
    "addresses",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("label", Text, nullable=False),
    Column("recipient", Text, nullable=False),
    Column("phone", Text, nullable=False),
    Column("province", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("district", Text, nullable=False),
    Column("sub_district", Text, nullable=False),
    Column("postal_code", Text, nullable=False),
    Column("street", Text, nullable=False),
    Column("latitude", Double, nullable=True),
    Column("longitude", Double, nullable=True),
    Column("is_default", Boolean, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

wishlist_items = Table(
    "wishlist_items",
    metadata,
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("product_id", _UUID, nullable=False),
    Column("created_at", _TZ, nullable=False),
    PrimaryKeyConstraint("user_id", "product_id", name="wishlist_items_pkey"),
)

wishlist_collections = Table(
    "wishlist_collections",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("created_at", _TZ, nullable=False),
)

wishlist_collection_items = Table(
    "wishlist_collection_items",
    metadata,
    Column("collection_id", _UUID, ForeignKey("wishlist_collections.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", _UUID, nullable=False),
    Column("product_id", _UUID, nullable=False),
    PrimaryKeyConstraint("collection_id", "product_id", name="wishlist_collection_items_pkey"),
    ForeignKeyConstraint(
        ["user_id", "product_id"],
        ["wishlist_items.user_id", "wishlist_items.product_id"],
        ondelete="CASCADE",
    ),
)

shops = Table(
    "shops",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("owner_id", _UUID, ForeignKey("users.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("domain", Text, nullable=False, unique=True),
    Column("description", Text, nullable=False),
    Column("origin_city", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("created_at", _TZ, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

shop_staff = Table(
    "shop_staff",
    metadata,
    Column("shop_id", _UUID, ForeignKey("shops.id"), nullable=False),
    Column("user_id", _UUID, ForeignKey("users.id"), nullable=False, unique=True),
    Column("created_at", _TZ, nullable=False),
    PrimaryKeyConstraint("shop_id", "user_id", name="shop_staff_pkey"),
)

# --- product summaries: the wishlist's read model of the catalog and the stock -----------------------------

product_summaries = Table(
    "product_summaries",
    metadata,
    Column("product_id", _UUID, primary_key=True),
    Column("shop_id", _UUID, nullable=False),
    Column("title", Text, nullable=False),
    Column("image_url", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("sku_ids", ARRAY(_UUID), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("updated_at", _TZ, nullable=False),
)

product_summary_skus = Table(
    "product_summary_skus",
    metadata,
    Column("sku_id", _UUID, primary_key=True),
    Column("price_amount", BigInteger, nullable=True),
    Column("currency", Text, nullable=True),
    Column("price_changed_at", _TZ, nullable=True),
    Column("price_change_id", _UUID, nullable=True),
    Column("in_stock", Boolean, nullable=True),
    Column("availability_version", BigInteger, nullable=False, server_default="0"),
)
