"""A flash sale through the gateway never oversells, even when the inventory process is killed mid-sale."""

from __future__ import annotations

import json
import os
import signal
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from conftest import Platform

QUOTA = 60
BUYERS = 8


def _inventory_pid(platform: Platform) -> int:
    state = json.loads((platform.data_dir / "run" / "state.json").read_text())
    return int(next(s for s in state["services"] if s["name"] == "inventory")["pid"])


def test_killing_inventory_mid_sale_never_oversells(platform: Platform) -> None:
    headers = {"Authorization": f"Bearer {platform.scripts_token('shop.manage admin')}"}
    sku_id, campaign_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    with platform.client(headers=headers) as client:
        warehouse = client.post(
            "/v1/warehouses", json={"shopId": str(uuid.uuid4()), "name": "Gudang Kilat", "city": "Bekasi"}
        ).json()["warehouse"]
        received = client.post(
            f"/v1/warehouses/{warehouse['id']}/skus/{sku_id}:receive", json={"quantity": QUOTA + 40}
        )
        allocated = client.post(
            f"/v1/flash-sales/{campaign_id}/allocations",
            json={
                "skuId": sku_id,
                "quantity": QUOTA,
                "perBuyerLimit": QUOTA,
                "startTime": (now - timedelta(minutes=1)).isoformat(),
                "endTime": (now + timedelta(hours=1)).isoformat(),
            },
        )
    assert received.status_code == allocated.status_code == 200, (received.text, allocated.text)

    claim_url = f"/v1/flash-sales/{campaign_id}/skus/{sku_id}:claim"
    confirmed: list[str] = []  # claim ids the buyers were told about
    sold_out = threading.Event()
    killed = threading.Event()
    lock = threading.Lock()

    def buyer() -> None:
        with httpx.Client(base_url=platform.base_url, headers=headers, timeout=5.0) as client:
            while not sold_out.is_set():
                try:
                    answer = client.post(claim_url, json={"quantity": 1})
                except httpx.HTTPError:
                    continue  # the process died under the call: its outcome is unknown to the buyer
                if answer.status_code == 200:
                    with lock:
                        confirmed.append(answer.json()["claimId"])
                        if len(confirmed) == QUOTA // 3 and not killed.is_set():
                            killed.set()
                            os.kill(_inventory_pid(platform), signal.SIGKILL)
                elif answer.status_code == 400 and answer.json().get("reason") == "SOLD_OUT":
                    sold_out.set()

    threads = [threading.Thread(target=buyer) for _ in range(BUYERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    with platform.client() as client:
        allocation = client.get(f"/v1/flash-sales/{campaign_id}/skus/{sku_id}").json()["allocation"]

    assert killed.is_set()
    assert sold_out.is_set()
    assert len(set(confirmed)) == len(confirmed)
    # Every claim a buyer was told about is kept, and none beyond the quota exists.
    assert len(confirmed) <= allocation.get("claimed", 0) <= QUOTA
