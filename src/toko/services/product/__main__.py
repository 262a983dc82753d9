"""``python -m toko.services.product``."""

from toko.platform.service import run
from toko.services.product.bootstrap import bootstrap
from toko.services.product.settings import ProductSettings

if __name__ == "__main__":
    run("product", ProductSettings(), bootstrap)
