"""``python -m toko.services.order``."""

from toko.platform.service import run
from toko.services.order.bootstrap import bootstrap
from toko.services.order.settings import OrderSettings

if __name__ == "__main__":
    run("order", OrderSettings(), bootstrap)
