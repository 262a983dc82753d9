"""Shared pytest configuration."""

pytest_plugins = ["toko.infra.testing", "toko.platform.testing_auth"]
