"""The garbage collector's settings for a process that serves calls.

Python's collector stops the whole process while it runs, the media clock's
task with it: every frame due during a pass leaves late by the pass's length,
and every reply in flight is that much later. Two settings keep the passes short
or rare once the service has started:

* ``gc.freeze()``: start-up's objects (modules, settings, the companies' tables)
  live as long as the process, so no pass scans them again.
* The middle generation is collected after 50 young passes, not Python's 10,
  and the old one after 20 middle passes, not 10: a full pass still comes after
  1000 young passes, as with the 100 and 10 of sessions 31-33.

  What a middle pass scans is what outlived the young passes since the last one
  (the calls' long-lived objects), so its length grows with the spacing while
  the total stays about the same. At 100 talking calls on the development box
  (session 34): after every 100 young passes, four middle passes of ~11 ms in a
  45 s run, and the replies in flight during one (about a twelfth of them) were
  that much later: agent-added p99 40-55 ms. After every 50: eight of ~7.5 ms,
  agent-added p99 24 ms and pacing p99 1.5-1.7 ms. After every 30: thirteen of
  ~6 ms, 26-28 ms and 1.8-2.2 ms (more frames waited behind a pass). Python's
  10 (before session 31): 49 passes of ~3 ms, pacing p99 2.3-2.9 ms. What waits
  longer is cyclic garbage only, bounded by the young passes between two middle
  ones: RSS per call stays at 0.29 MB.
"""

from __future__ import annotations

import gc

YOUNG_PASSES_PER_MIDDLE = 50
MIDDLE_PASSES_PER_OLD = 20


def settle_collector() -> None:
    """Freeze what start-up made and space out the middle and old generations' passes."""
    gc.freeze()
    young, _, _ = gc.get_threshold()
    gc.set_threshold(young, YOUNG_PASSES_PER_MIDDLE, MIDDLE_PASSES_PER_OLD)
