"""The Cartesia contexts one agent turn speaks on, and when to start a new one.

Pure: no trio, no sockets; times are passed in.

One ``speak()`` is one agent turn, but a turn's text can span a tool call:
"Let me check that for you." ... a booking lookup of 0.5-3 s ... "You're booked
in for ...". Cartesia drops a context about 1 s after its last audio was
streamed out, and input on an expired context is unsupported (reference §3:
"use a new id"). So a turn speaks on a sequence of contexts, its *segments*:

* Text goes on the open segment. A segment that has been idle for
  ``idle_close_s`` (no audio in, no speakable text out) is closed at once with
  an empty transcript and ``continue: false``; the turn's next text opens a new
  segment on a new ``context_id``. A closed context never takes more input, so
  "rotate whenever the previous context is done (or closed)" is part of the rule.
* Audio is forwarded one segment at a time, in order: a later segment's
  messages wait (``stash``) until the earlier one's ``done``. That ``done`` ends
  the segment, never the turn: the turn ends when its text has ended and every
  segment is done.
* Each segment has its own ``WordAligner`` (Cartesia's timestamps restart at
  0 for each context) fed only the text sent on it, so ``AudioChunk.text``
  still concatenates back to the turn's text across segments.

Why close on a timer instead of deciding when the next text comes (is the old
context still alive?): a close sent ``idle_close_s`` = 0.5 s after the last
activity reaches the server well inside its ~1 s, whereas a decision taken when
the text arrives, at any age, would either race the expiry (continue or close
at 0.9 s) or abandon the context unclosed. Closing also makes the server speak
any text it still holds (a trailing word it buffers) and answer ``done``, so no
sent text is lost and the segment's end is exact, and it frees the context
slot at once (Cartesia counts concurrency per active context). We go by time
because the client cannot tell reliably that the server has said everything
(timestamps are optional and normalised; ``flush`` would change buffering), and
a close is always safe: at worst a pause the caller hears anyway also becomes a
context boundary.

Why 0.5 s: the server's clock starts when it streams the last audio; ours
starts when that chunk arrives, one-way latency later, and our close arrives
another one-way latency after we send it. 0.5 s leaves 0.5 s for the round trip,
scheduling jitter and the "about" in "about 1 s". Much shorter would close
contexts in ordinary pauses between the model's tokens, breaking prosody
mid-sentence for nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs

from agent.base.events import AudioChunk
from agent.providers.tts.cartesia_wire import (
    Chunk,
    Done,
    ServerError,
    ServerMessage,
    Timestamps,
    WordAligner,
    server_error,
)


@attrs.define(eq=False)
class Segment:
    """One context of the turn."""

    context_id: str
    aligner: WordAligner
    last_activity: float  # last chunk arrival or speakable text sent
    closed: bool = False  # ``continue: false`` sent: new text needs a new context
    done: bool = False  # the server said ``done``: nothing more will come
    carry: bytes = b""  # an odd trailing byte, kept until its sample is whole
    # Messages that arrived while an earlier segment was still being forwarded.
    stash: list[ServerMessage] = attrs.field(factory=list)


class TurnContexts:
    """The segments of one turn (see the module doc)."""

    def __init__(
        self,
        *,
        make_id: Callable[[int], str],
        sample_rate: int,
        idle_close_s: float,
    ) -> None:
        self.segments: list[Segment] = []
        self.text_ended = False
        self._make_id = make_id
        self._sample_rate = sample_rate
        self._idle_close_s = idle_close_s
        self._by_id: dict[str, Segment] = {}
        self._head = 0  # the first segment not done: the one whose audio goes out now
        # Whitespace a finished segment ended with, for the next segment's first text.
        self._gap = ""

    # --- sending ------------------------------------------------------------

    @property
    def open_segment(self) -> Segment | None:
        if self.segments and not self.segments[-1].closed:
            return self.segments[-1]
        return None

    def segment_for_text(self, now: float) -> tuple[Segment, bool]:
        """The segment to send text on, and whether it was opened just now."""
        segment = self.open_segment
        if segment is not None:
            return segment, False
        segment = Segment(
            self._make_id(len(self.segments) + 1), WordAligner(self._sample_rate), now
        )
        self.segments.append(segment)
        self._by_id[segment.context_id] = segment
        return segment, True

    def sent(self, segment: Segment, piece: str, now: float) -> None:
        segment.aligner.add_sent_text(piece)
        if piece.strip():
            # Whitespace alone makes no audio, so it may not keep a context alive.
            segment.last_activity = now

    def idle_close_at(self) -> float:
        """When the open segment must be closed if nothing happens before."""
        segment = self.open_segment
        return math.inf if segment is None else segment.last_activity + self._idle_close_s

    def close_open(self) -> Segment | None:
        segment = self.open_segment
        if segment is not None:
            segment.closed = True
        return segment

    # --- receiving ----------------------------------------------------------

    def live(self) -> list[Segment]:
        """Segments the server may still send for (to cancel on barge-in)."""
        return self.segments[self._head :]

    @property
    def finished(self) -> bool:
        return self.text_ended and not self.live()

    def on_message(self, message: ServerMessage, now: float) -> list[AudioChunk]:
        """Audio to forward, in order; raises ``ProviderError`` for a server error."""
        if isinstance(message, ServerError):
            # A context-level error fails the turn whichever segment it is for;
            # the fallback voice resumes after the text the audio sent covered.
            raise server_error(message)
        segment = self._by_id.get(message.context_id or "")
        if segment is None or segment.done:
            return []
        if isinstance(message, Chunk):
            segment.last_activity = max(segment.last_activity, now)
        if not isinstance(message, (Chunk, Timestamps, Done)):
            return []  # flush_done and unknown types say nothing we use
        if segment is not self.segments[self._head]:
            segment.stash.append(message)
            return []
        return self._play(segment, message)

    def _play(self, segment: Segment, message: ServerMessage) -> list[AudioChunk]:
        if isinstance(message, Chunk):
            pcm = segment.carry + message.pcm
            whole = len(pcm) - len(pcm) % 2
            pcm, segment.carry = pcm[:whole], pcm[whole:]
            covered = segment.aligner.text_for_chunk(len(pcm))
            if covered:
                covered, self._gap = self._gap + covered, ""
            return [AudioChunk(pcm, covered)] if pcm or covered else []
        if isinstance(message, Timestamps):
            segment.aligner.add_timestamps(message.words, message.ends)
            return []
        # Done: this segment is over (not the turn); the next one's audio may go out.
        segment.done = segment.closed = True
        rest = segment.aligner.finish(keep_whitespace=True)
        audio: list[AudioChunk] = []
        if rest.strip():
            audio.append(AudioChunk(b"", self._gap + rest))
            self._gap = ""
        else:
            # Only the space after a sentence: it belongs before the next segment's
            # text (dropped if none comes, like the end of any turn's text).
            self._gap += rest
        self._head += 1
        if self._head < len(self.segments):
            following = self.segments[self._head]
            waiting, following.stash = following.stash, []
            for early in waiting:
                audio.extend(self._play(following, early))
        return audio
