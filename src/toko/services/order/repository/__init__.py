"""Persistence of the order service (SQLAlchemy 2.0 Core over asyncpg); functions never commit.

All row locking of the service is here: a checkout's row is locked while its saga takes a step or a
payment event moves it, an order's row while it changes state, and due timers and stalled checkouts
are claimed with ``FOR UPDATE SKIP LOCKED`` so that replicas never take the same one.

- ``tables``: the tables
- ``checkouts``: quotes and checkouts
- ``orders``: orders and their timelines
- ``timers``: durable timers
- ``common``: what they share
"""
