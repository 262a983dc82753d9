"""``python -m toko.services.inventory``."""

from toko.platform.service import run
from toko.services.inventory.bootstrap import bootstrap
from toko.services.inventory.settings import InventorySettings

if __name__ == "__main__":
    run("inventory", InventorySettings(), bootstrap)
