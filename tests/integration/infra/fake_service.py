"""A throwaway gRPC service for the supervisor tests: grpc.health.v1 on $TOKO_FAKE_PORT.

Crashes (exit 3) on its first $FAKE_CRASHES starts, counted in $FAKE_COUNTER_FILE, and dumps its
environment to $FAKE_ENV_FILE so tests can see what the supervisor passed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2_grpc


def crash_if_asked() -> None:
    counter = Path(os.environ["FAKE_COUNTER_FILE"])
    starts = int(counter.read_text()) if counter.exists() else 0
    counter.write_text(str(starts + 1))
    if starts < int(os.environ.get("FAKE_CRASHES", "0")):
        print(f"fake: crashing on start {starts + 1}", flush=True)
        sys.exit(3)


async def serve() -> None:
    server = grpc.aio.server()
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    server.add_insecure_port(f"127.0.0.1:{os.environ['TOKO_FAKE_PORT']}")
    await server.start()
    print("fake: serving", flush=True)
    # As a service's JSON log writes them: a request's line (for the log file only) and a warning.
    print(
        json.dumps({"level": "info", "service": "fake", "message": "http request", "route": "/"}), flush=True
    )
    print(json.dumps({"level": "warning", "service": "fake", "message": "disk almost full"}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(grace=1)


if __name__ == "__main__":
    Path(os.environ["FAKE_ENV_FILE"]).write_text(json.dumps(dict(os.environ)))
    crash_if_asked()
    asyncio.run(serve())
