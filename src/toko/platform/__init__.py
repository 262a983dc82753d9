"""Shared runtime of every toko service: settings, logging, gRPC, database, events, cache, errors."""
