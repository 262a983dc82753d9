"""`toko token --user EMAIL`: a person gets an access token in one command, as the README shows."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import Platform

TOKO = str(Path(sys.executable).parent / "toko")


def toko_token(platform: Platform, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOKO, "token", *args],
        check=False,
        env=platform.env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_demo_buyer_gets_a_token_in_one_command_and_calls_the_api_with_it(platform: Platform) -> None:
    buyer = platform.account("buyer")

    result = toko_token(platform, "--user", buyer["email"])

    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    with platform.client() as client:
        me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert me.json()["user"]["email"] == buyer["email"]


def test_refresh_gives_a_new_token_without_the_password(platform: Platform) -> None:
    buyer = platform.account("buyer", 1)
    first = toko_token(platform, "--user", buyer["email"]).stdout.strip()

    again = toko_token(platform, "--user", buyer["email"], "--refresh", "--password-stdin", stdin="wrong\n")

    assert again.returncode == 0, again.stderr
    fresh = again.stdout.strip()
    assert fresh
    assert fresh != first
    with platform.client() as client:
        me = client.get("/v1/users/me", headers={"Authorization": f"Bearer {fresh}"})
    assert me.status_code == 200, me.text


def test_a_wrong_password_is_one_clear_line_and_no_token(platform: Platform) -> None:
    buyer = platform.account("buyer")

    result = toko_token(platform, "--user", buyer["email"], "--password-stdin", stdin="not-the-password\n")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "sign-in refused" in result.stderr
