"""The auth service: an OAuth 2.1 / OpenID Connect provider, and the registry of OAuth clients."""
