"""The user service's use cases: one function per command or query, one transaction each.

Handlers take keyword-only arguments, the caller's principal among them, and
return protobuf messages. The events a write raises are staged in its unit of
work and committed with it. Grouped by aggregate:

- ``accounts``: sign-up, verification, passwords, profile, deletion, roles, sign-in checks
- ``addresses``: the address book
- ``wishlists``: wishlist items and collections
- ``shops``: shops and their staff
- ``totp``: the second factor
"""

from toko.services.user.handlers.common import SOURCE, Users

__all__ = ["SOURCE", "Users"]
