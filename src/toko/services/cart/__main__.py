"""``python -m toko.services.cart``."""

from toko.platform.service import run
from toko.services.cart.bootstrap import bootstrap
from toko.services.cart.settings import CartSettings

if __name__ == "__main__":
    run("cart", CartSettings(), bootstrap)
