"""Shared pytest configuration."""

pytest_plugins = ["toko.infra.testing"]
