"""Persistence of the product service (SQLAlchemy 2.0 Core over asyncpg); repositories never commit.

- ``tables``: the tables and their constraint names
- ``catalog``: categories, products and SKUs (``CatalogRepository``)
- ``pricing``: pricing state, history, schedules, campaigns, boundaries, stock signals (``PricingRepository``)
- ``common``: what both share
"""
