"""Persistence of the provider (SQLAlchemy 2.0 Core over asyncpg); never commits, the unit of work does.

One module per aggregate, each a repository over one session's transaction:

- ``clients``: the client registry (``ClientRepository``)
- ``signing_keys``: the signing keys and their rotation (``SigningKeyRepository``)
- ``authorization_codes``: issued authorization codes (``AuthorizationCodeRepository``)
- ``tokens``: refresh tokens, access-token records and revoking grants (``TokenRepository``)
- ``consents``: the scopes each user granted each client (``ConsentRepository``)
- ``tables``: the tables, declared once; ``common``: what every repository shares

Single use is enforced by the database, not by reading first: a code or a refresh
token is consumed by a conditional ``UPDATE … WHERE used_at IS NULL``, so of two
concurrent uses exactly one wins.
"""
