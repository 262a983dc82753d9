"""The sandbox's settings: its defaults, its own prefix, and the shared data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from toko.sandbox.settings import SandboxSettings


def test_defaults_listen_on_loopback_on_the_usual_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TOKO_DATA_DIR", raising=False)

    settings = SandboxSettings()

    assert (settings.host, settings.port) == ("127.0.0.1", 8025)
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 2525)
    assert settings.sandbox_dir == Path(".toko/sandbox")
    assert settings.mail_max_message_bytes == 1024 * 1024


def test_settings_come_from_the_sandbox_prefix_and_the_shared_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TOKO_SANDBOX_SMTP_PORT", "2626")
    monkeypatch.setenv("TOKO_SANDBOX_PORT", "8125")
    monkeypatch.setenv("TOKO_DATA_DIR", str(tmp_path))

    settings = SandboxSettings()

    assert (settings.port, settings.smtp_port) == (8125, 2626)
    assert settings.sandbox_dir == tmp_path / "sandbox"
