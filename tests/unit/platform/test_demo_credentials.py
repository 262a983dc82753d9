"""The demo credentials file that several services' seeds write at once."""

from __future__ import annotations

import json
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from toko.platform.demo import CREDENTIALS_FILE, read_demo_credentials, update_demo_credentials


def test_seeds_writing_at_the_same_time_keep_each_others_sections(tmp_path: Path) -> None:
    def write(section: int) -> None:
        for attempt in range(20):
            update_demo_credentials(tmp_path, **{f"section{section}": {"attempt": attempt}})

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(4)))

    written = json.loads((tmp_path / CREDENTIALS_FILE).read_text())
    assert written == {f"section{n}": {"attempt": 19} for n in range(4)}


def test_the_file_is_its_owners_alone_and_keeps_what_it_is_not_told_to_change(tmp_path: Path) -> None:
    update_demo_credentials(tmp_path, accounts=[{"email": "pembeli1@toko.test"}])
    path = update_demo_credentials(tmp_path, clients={"toko-scripts": {"client_secret": "s"}})

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_demo_credentials(tmp_path) == {
        "accounts": [{"email": "pembeli1@toko.test"}],
        "clients": {"toko-scripts": {"client_secret": "s"}},
    }
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [CREDENTIALS_FILE]
