"""``python -m toko.sandbox`` as a real process: it serves SMTP and HTTP, logs JSON, and stops on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
import orjson


async def _serving_line(stderr: asyncio.StreamReader) -> dict[str, object]:
    while line := await stderr.readline():
        entry = orjson.loads(line)
        if entry["message"] == "serving":
            return dict(entry)
    raise AssertionError("the sandbox exited before serving")


async def test_serves_mail_and_pages_and_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TOKO_SANDBOX_PORT": "0",
        "TOKO_SANDBOX_SMTP_PORT": "0",
        "TOKO_DATA_DIR": str(tmp_path),
        "TOKO_LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "toko.sandbox", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    assert process.stderr is not None
    try:
        serving = await asyncio.wait_for(_serving_line(process.stderr), 15)
        assert serving["service"] == "sandbox"
        message = EmailMessage()
        message["Subject"] = "from the process test"
        message.set_content("hi")
        await aiosmtplib.send(
            message,
            sender="no-reply@toko.test",
            recipients=["buyer@example.com"],
            hostname="127.0.0.1",
            port=int(str(serving["smtp_port"])),
        )
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{serving['port']}") as web:
            assert (await web.get("/healthz")).status_code == 200
            [kept] = (await web.get("/mailbox/api/messages")).json()["messages"]
        assert kept["subject"] == "from the process test"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.communicate(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    assert process.returncode == 0
    assert list((tmp_path / "sandbox" / "mail").glob("*.eml"))
