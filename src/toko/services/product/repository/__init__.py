"""Persistence of the product service (SQLAlchemy 2.0 Core over asyncpg); repositories never commit.

- ``tables``: the tables and their constraint names
- ``catalog``: categories, products and SKUs (``CatalogRepository``)
- ``pricing``: pricing state, history, schedules, campaigns, boundaries, stock signals and availability,
  the offers product reads show and products' current prices (``PricingRepository``)
- ``common``: what both share
"""
