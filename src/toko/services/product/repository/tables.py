"""The product service's tables (SQLAlchemy Core), as the migrations create them: the catalog's and pricing's.

The domain stays plain dataclasses; the repositories map rows to and from them.
Constraint names are here too, so that a repository can tell which one a failed
write violated.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

_UUID = Uuid(as_uuid=False)
_TIME = DateTime(timezone=True)

metadata = MetaData()

# --- catalog ------------------------------------------------------------------------------------------------

PRODUCT_SLUG_CONSTRAINT = "products_shop_id_slug_key"
CATEGORY_SLUG_CONSTRAINT = "categories_parent_id_slug_key"

categories = Table(
    "categories",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("parent_id", Uuid(as_uuid=False), ForeignKey("categories.id"), nullable=True),
    Column("name", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("path", ARRAY(Uuid(as_uuid=False)), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("parent_id", "slug", name=CATEGORY_SLUG_CONSTRAINT, postgresql_nulls_not_distinct=True),
    Index("categories_path_idx", "path", postgresql_using="gin"),
)

products = Table(
    "products",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("shop_id", Uuid(as_uuid=False), nullable=False),
    Column("category_id", Uuid(as_uuid=False), ForeignKey("categories.id"), nullable=False),
    Column("title", Text, nullable=False),
    Column("slug", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("condition", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attributes", JSONB, nullable=False),
    Column("image_urls", JSONB, nullable=False),
    Column("weight_grams", Integer, nullable=False),
    Column("length_mm", Integer, nullable=False),
    Column("width_mm", Integer, nullable=False),
    Column("height_mm", Integer, nullable=False),
    Column("options", JSONB, nullable=False),
    Column("min_price", BigInteger, nullable=False),
    Column("max_price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", BigInteger, nullable=False),
    UniqueConstraint("shop_id", "slug", name=PRODUCT_SLUG_CONSTRAINT),
)

skus = Table(
    "skus",
    metadata,
    Column("id", Uuid(as_uuid=False), primary_key=True),
    Column("product_id", Uuid(as_uuid=False), ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("code", Text, nullable=False),
    Column("option_values", JSONB, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("product_id", "code", name="skus_product_id_code_key"),
)

# --- pricing ------------------------------------------------------------------------------------------------

# Each product's cheapest and dearest current SKU price: the order of a listing by price.
product_current_prices = Table(
    "product_current_prices",
    metadata,
    Column("product_id", _UUID, ForeignKey("products.id", ondelete="CASCADE"), primary_key=True),
    Column("min_price", BigInteger, nullable=False),
    Column("max_price", BigInteger, nullable=False),
    Column("updated_at", _TIME, nullable=False),
)

sku_pricing = Table(
    "sku_pricing",
    metadata,
    Column("sku_id", _UUID, ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True),
    Column("floor_price", BigInteger),
    Column("ceiling_price", BigInteger),
    Column("tiers", JSONB, nullable=False),
    Column("dynamic_rules", JSONB, nullable=False),
    Column("dynamic_price", BigInteger),
    Column("dynamic_rule_id", _UUID),
    Column("current_price", BigInteger),
    Column("current_source", Text, nullable=False),
    Column("current_rule_id", _UUID),
    Column("updated_at", _TIME, nullable=False),
)

price_history = Table(
    "price_history",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("sku_id", _UUID, nullable=False),
    Column("product_id", _UUID, nullable=False),
    Column("shop_id", _UUID, nullable=False),
    Column("old_price", BigInteger),
    Column("new_price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("rule_id", _UUID),
    Column("actor", Text, nullable=False),
    Column("changed_at", _TIME, nullable=False),
)

price_schedules = Table(
    "price_schedules",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("sku_id", _UUID, ForeignKey("skus.id", ondelete="CASCADE"), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("starts_at", _TIME, nullable=False),
    Column("ends_at", _TIME, nullable=False),
    Column("cancelled_at", _TIME),
    Column("created_by", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)

campaigns = Table(
    "campaigns",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("name", Text, nullable=False),
    Column("starts_at", _TIME, nullable=False),
    Column("ends_at", _TIME, nullable=False),
    Column("created_by", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)

campaign_skus = Table(
    "campaign_skus",
    metadata,
    Column("campaign_id", _UUID, ForeignKey("campaigns.id"), primary_key=True),
    Column("sku_id", _UUID, ForeignKey("skus.id", ondelete="CASCADE"), primary_key=True),
    Column("product_id", _UUID, nullable=False),
    Column("shop_id", _UUID, nullable=False),
    Column("campaign_price", BigInteger, nullable=False),
    Column("currency", Text, nullable=False),
    Column("quota", Integer, nullable=False),
    Column("per_buyer_limit", Integer, nullable=False),
    Column("starts_at", _TIME, nullable=False),
    Column("ends_at", _TIME, nullable=False),
    Column("added_by", Text, nullable=False),
    Column("created_at", _TIME, nullable=False, server_default=func.now()),
)

price_boundaries = Table(
    "price_boundaries",
    metadata,
    Column("id", _UUID, primary_key=True),
    Column("sku_id", _UUID, ForeignKey("skus.id", ondelete="CASCADE"), nullable=False),
    Column("due_at", _TIME, nullable=False),
    Column("kind", Text, nullable=False),
    Column("ref_id", _UUID, nullable=False),
    Column("applied_at", _TIME),
)

sku_stock_signals = Table(
    "sku_stock_signals",
    metadata,
    Column("sku_id", _UUID, primary_key=True),
    Column("available", Integer),
    Column("availability_version", BigInteger, nullable=False),
    Column("in_stock", Boolean),
    Column("quantity_bucket", Text),
    Column("updated_at", _TIME, nullable=False),
)

sku_daily_sales = Table(
    "sku_daily_sales",
    metadata,
    Column("sku_id", _UUID, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("units", BigInteger, nullable=False),
)

SCHEDULE_OVERLAP_CONSTRAINT = "price_schedules_no_overlap"
CAMPAIGN_OVERLAP_CONSTRAINT = "campaign_skus_no_overlap"
CAMPAIGN_SKU_KEY = "campaign_skus_pkey"
