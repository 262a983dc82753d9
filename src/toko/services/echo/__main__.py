"""``python -m toko.services.echo``."""

from toko.platform.service import run
from toko.services.echo.bootstrap import bootstrap
from toko.services.echo.settings import EchoSettings

if __name__ == "__main__":
    run("echo", EchoSettings(), bootstrap)
