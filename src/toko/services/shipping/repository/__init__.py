"""Persistence of the shipping service (SQLAlchemy 2.0 Core over asyncpg); functions never commit.

The domain stays plain dataclasses: rows are mapped to and from them here. Every function reads and
writes in the caller's session; the unit of work commits. All row locking of the service is here: a
slot's place is taken by one conditional UPDATE, so a full slot can never be overbooked; a hold leaves
``held`` by one conditional UPDATE, so of a release, a booking and a lapse racing for it one counts;
expired holds are lapsed, and the tracking poller claims shipments, with ``FOR UPDATE SKIP LOCKED``.

- ``tables``: the tables
- ``rates``: quoted rates, kept under an id until they expire
- ``slots``: delivery slots, their places, and the holds kept on them
- ``shipments``: shipments, their tracking history, and the couriers' webhooks as received
- ``common``: what they share
"""
