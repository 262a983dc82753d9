"""``python -m toko.services.notification``."""

from toko.platform.service import run
from toko.services.notification.bootstrap import bootstrap
from toko.services.notification.settings import NotificationSettings

if __name__ == "__main__":
    run("notification", NotificationSettings(), bootstrap)
