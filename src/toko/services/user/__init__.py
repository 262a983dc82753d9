"""The user service: accounts, profiles, address books, wishlists, roles and shops."""
