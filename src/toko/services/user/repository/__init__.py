"""Persistence of the user service (SQLAlchemy 2.0 Core over asyncpg); never commits, the unit of work does.

One module per aggregate, each a repository over one session's transaction:

- ``accounts``: accounts, their profiles and credentials, and deleting one (``AccountRepository``)
- ``account_tokens``: the single-use email verification and password reset tokens (``AccountTokenRepository``)
- ``totp``: the second factor and its recovery codes (``TotpRepository``)
- ``addresses``: the address book (``AddressRepository``)
- ``wishlists``: wishlist items and collections (``WishlistRepository``)
- ``product_summaries``: the wishlist's read model of the catalog and the stock (``ProductSummaryRepository``)
- ``shops``: shops and their staff (``ShopRepository``)
- ``tables``: the tables, declared once; ``common``: what every repository shares

The domain stays plain dataclasses: rows are mapped to and from them here. All row
locking of the service is in this package: a use case that enforces a per-account cap
or the one-default-address rule first locks the account's row
(``AccountRepository.get_user(..., for_update=True)``), so concurrent requests of one
account queue up instead of both passing the check.
"""
