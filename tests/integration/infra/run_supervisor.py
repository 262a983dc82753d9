"""Run a Supervisor over the fake service in its own process, as `toko up` does: argv = data_dir port."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from toko.infra.servers import InfraConfig, Infrastructure
from toko.infra.services import ServiceSpec
from toko.infra.supervisor import Supervisor

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    data_dir, port = Path(sys.argv[1]), int(sys.argv[2])
    env = {
        "PYTHONPATH": str(HERE),
        "FAKE_COUNTER_FILE": str(data_dir / "fake-starts"),
        "FAKE_ENV_FILE": str(data_dir / "fake-env.json"),
    }
    supervisor = Supervisor(
        Infrastructure(InfraConfig.for_tests(data_dir)),
        [ServiceSpec("fake", "fake_service", port)],
        extra_env=env,
    )
    sys.exit(asyncio.run(supervisor.run()))
