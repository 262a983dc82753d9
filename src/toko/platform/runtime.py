"""Process-level tuning shared by every long-running toko process."""

from __future__ import annotations

import gc

# Young-generation threshold: a request allocates a few hundred objects, so the default (700)
# runs the collector every couple of requests; this keeps it to every few dozen.
YOUNG_GENERATION_THRESHOLD = 20_000


def settle_heap() -> None:
    """Call once start-up is done: hide start-up objects from the garbage collector.

    Descriptors, modules, SQLAlchemy metadata and the like live for the whole process;
    freezing them means a full collection no longer walks them, which removes the
    multi-millisecond pauses that otherwise land in the tail latency of requests.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, 20, 20)
