"""``python -m toko.services.shipping``."""

from toko.platform.service import run
from toko.services.shipping.bootstrap import bootstrap
from toko.services.shipping.settings import ShippingSettings

if __name__ == "__main__":
    run("shipping", ShippingSettings(), bootstrap)
