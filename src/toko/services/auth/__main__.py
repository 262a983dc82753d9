"""``python -m toko.services.auth``."""

from toko.platform.service import run
from toko.services.auth.bootstrap import bootstrap
from toko.services.auth.settings import AuthSettings

if __name__ == "__main__":
    run("auth", AuthSettings(), bootstrap)
