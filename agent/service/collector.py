"""The garbage collector's settings for a process that serves calls.

Python's collector stops the whole process while it runs, the media clock's
task with it: every frame due during a pass leaves late by the pass's length.
Two settings keep the passes short or rare once the service has started:

* ``gc.freeze()``: start-up's objects (modules, settings, the companies' tables)
  live as long as the process, so no pass scans them again.
* The middle generation is collected after 100 young passes, not Python's 10.
  At 100 talking calls a young pass takes ~0.5 ms and a middle one ~3 ms at
  Python's setting (49 in a 40 s load run: pacing p99 2.3-2.9 ms at the
  callers' sockets); with 100, five middle passes of ~9 ms in the same run and
  pacing p99 1.3 ms. What waits longer is cyclic garbage only (httpx's requests
  and responses, a few hundred objects a second), bounded by the young passes
  between two middle ones: RSS per call stayed at 0.32 MB.
"""

from __future__ import annotations

import gc

YOUNG_PASSES_PER_MIDDLE = 100


def settle_collector() -> None:
    """Freeze what start-up made and space out the middle generation's passes."""
    gc.freeze()
    young, _, old = gc.get_threshold()
    gc.set_threshold(young, YOUNG_PASSES_PER_MIDDLE, old)
