"""How a recogniser wants the caller's audio handed to it (``UplinkBatching``).

A recogniser that sends audio in batches (Deepgram) gains nothing from being
handed 20 ms frames one by one: each frame wakes its pump task. A session that
sets ``uplink`` tells the caller's side (``agent.conversation.sttfeed``) to
gather frames into batches of ``batch_s`` and hand them over whole, except
around a pause (``pause_window_s`` after ``caller_pausing``), where its
end-of-speech timing is decided and every frame goes on its own. One without
it gets every frame as it comes (Whisper endpoints on each frame).
"""

from __future__ import annotations

import attrs

__all__ = ["UplinkBatching"]


@attrs.frozen
class UplinkBatching:
    batch_s: float  # audio gathered per hand-over while the caller talks
    pause_window_s: float  # after caller_pausing, frames go one by one this long
