"""A throwaway seed hook: appends a line to $FAKE_SEED_LOG each time it runs."""

import os
from pathlib import Path

if __name__ == "__main__":
    with Path(os.environ["FAKE_SEED_LOG"]).open("a") as log:
        log.write(f"seeded with {os.environ['TOKO_DATABASE_URL']}\n")
