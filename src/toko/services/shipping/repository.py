"""Persistence of rates, slots and shipments (SQLAlchemy 2.0 Core over asyncpg)."""
