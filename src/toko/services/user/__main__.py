"""``python -m toko.services.user``."""

from toko.platform.service import run
from toko.services.user.bootstrap import bootstrap
from toko.services.user.settings import UserSettings

if __name__ == "__main__":
    run("user", UserSettings(), bootstrap)
