"""What the order repositories share: the JSON column type of the stored contract documents."""

from __future__ import annotations

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB

# JSONB on PostgreSQL (what the migrations create), plain JSON elsewhere.
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
