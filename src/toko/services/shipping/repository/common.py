"""What the shipping repositories share: the JSON column type."""

from __future__ import annotations

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (what the migrations create), plain JSON elsewhere.
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
