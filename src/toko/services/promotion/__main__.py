"""``python -m toko.services.promotion``."""

from toko.platform.service import run
from toko.services.promotion.bootstrap import bootstrap
from toko.services.promotion.settings import PromotionSettings

if __name__ == "__main__":
    run("promotion", PromotionSettings(), bootstrap)
