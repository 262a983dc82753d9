"""``python -m toko.sandbox``: serve the stand-ins until SIGTERM or SIGINT."""

from toko.sandbox.app import run
from toko.sandbox.settings import SandboxSettings

if __name__ == "__main__":
    run(SandboxSettings())
