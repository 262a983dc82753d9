"""Persistence of the inventory (SQLAlchemy 2.0 Core over asyncpg); never commits, the unit of work does.

One module per aggregate (``warehouses``, ``skus``, ``stock``, ``lots``, ``reservations``,
``flash_sales``, ``purchasing``), each a repository over one session's transaction; the
tables they share are declared once in ``tables``, and ``common`` holds the stock line as
every module reads it.

All row locking of the inventory lives in this package, in one order that every use case
follows so that concurrent transactions never deadlock:

1. the reservation row (claimed by inserting it, or ``FOR UPDATE``; the expiry worker with
   ``SKIP LOCKED``),
2. stock rows, in ascending id order (``claim_reservation`` and ``move`` sort them),
3. ``skus`` rows, in ascending id order (``move`` updates them last),
4. the flash-sale allocation row (its ``claimed`` counter).

Stock levels change only through ``StockRepository.move``: a conditional UPDATE of the stock lines
(``... WHERE on_hand - reserved >= <units taken from available>``), an append-only
ledger row per movement, and the SKU's total moved by the same deltas, in one
statement in the caller's transaction. The CHECK constraints of the ``stock`` table back it up.
A perishable SKU's line moves its ``stock_lots`` rows in the same call, by the same
deltas, under the line's row lock (lots have no lock of their own).
"""
