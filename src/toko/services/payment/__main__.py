"""``python -m toko.services.payment``."""

from toko.platform.service import run
from toko.services.payment.bootstrap import bootstrap
from toko.services.payment.settings import PaymentSettings

if __name__ == "__main__":
    run("payment", PaymentSettings(), bootstrap)
