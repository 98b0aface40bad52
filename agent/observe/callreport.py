"""What a caller measured: pure bookkeeping and statistics (no Trio)."""

from __future__ import annotations

import bisect
import itertools
import math
import statistics as stats
from collections.abc import Sequence

import attrs

from dsp import frame_level_dbfs

# A received frame counts as agent speech above this RMS (about -50 dBFS);
# silence frames are exact zeros, comfort noise stays well below.
VOICED_RMS = 100.0
_VOICED_DBFS = 20 * math.log10(VOICED_RMS / 32768)


def is_voiced(pcm: bytes) -> bool:
    # The C core's level meter: the caller runs this on every frame of every
    # call it plays, including the load benchmark's hundreds of calls.
    return frame_level_dbfs(pcm) >= _VOICED_DBFS


@attrs.frozen
class Received:
    at: float
    pcm: bytes = attrs.field(repr=False)
    voiced: bool


@attrs.define
class UtteranceLog:
    label: str
    interrupt: bool = False
    start_at: float | None = None  # first frame sent
    voice_at: float | None = None  # first voiced frame sent (the speech onset)
    end_at: float | None = None  # end of the last voiced frame sent


@attrs.frozen
class UtteranceResult:
    label: str
    interrupt: bool
    # End of our speech -> first agent audio after it (None: the agent never answered).
    response_ms: float | None
    # Interruptions: our speech onset -> the agent's last voiced frame.
    barge_in_stop_ms: float | None


def percentile(values: Sequence[float], pct: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[rank]


@attrs.frozen
class CallerReport:
    frames_received: int
    voiced_frames: int
    interarrival_p50_ms: float
    interarrival_p99_ms: float
    interarrival_max_ms: float
    # Arrival gaps longer than 1.5 frames (audible as a hole).
    gaps: int
    utterances: tuple[UtteranceResult, ...]
    agent_hung_up: bool
    closed_by_agent: bool
    duration_s: float

    def format(self) -> str:
        lines = [
            f"call lasted {self.duration_s:.1f} s; received {self.frames_received} frames"
            f" ({self.voiced_frames} with agent speech)",
            f"inter-arrival p50 {self.interarrival_p50_ms:.2f} ms, p99"
            f" {self.interarrival_p99_ms:.2f} ms, max {self.interarrival_max_ms:.2f} ms;"
            f" gaps {self.gaps}",
        ]
        for u in self.utterances:
            response = "no answer" if u.response_ms is None else f"{u.response_ms:.0f} ms"
            line = f"  {u.label}: end of speech -> agent audio {response}"
            if u.interrupt:
                stop = "-" if u.barge_in_stop_ms is None else f"{u.barge_in_stop_ms:.0f} ms"
                line += f"; barge-in: agent quiet after {stop}"
            lines.append(line)
        ended = (
            "the agent hung up (0x00)"
            if self.agent_hung_up
            else (
                "the agent closed the connection" if self.closed_by_agent else "the caller hung up"
            )
        )
        lines.append(f"ended: {ended}")
        return "\n".join(lines)


def build_report(
    *,
    received: Sequence[Received],
    utterances: Sequence[UtteranceLog],
    frame_ms: int,
    agent_hung_up: bool,
    closed_by_agent: bool,
    started_at: float,
) -> CallerReport:
    arrivals = [r.at for r in received]
    deltas = [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]
    voiced_times = [r.at for r in received if r.voiced]
    results = []
    for u in utterances:
        response = stop = None
        if u.end_at is not None:
            # The agent's answer: the first voiced frame after our speech ended
            # that starts a new burst (not the tail of speech we talked over).
            after = voiced_times[bisect.bisect_left(voiced_times, u.end_at) :]
            if u.interrupt:
                after = [t for t in after if _starts_burst(t, voiced_times, frame_ms)]
            response = (after[0] - u.end_at) * 1000 if after else None
        onset = u.voice_at if u.voice_at is not None else u.start_at
        if u.interrupt and onset is not None:
            talked_over = voiced_times[bisect.bisect_left(voiced_times, onset) :]
            last = onset
            for t in talked_over:
                if t - last > 3 * frame_ms / 1000:
                    break
                last = t
            stop = (last - onset) * 1000
        results.append(UtteranceResult(u.label, u.interrupt, response, stop))
    end = arrivals[-1] if arrivals else started_at
    return CallerReport(
        frames_received=len(received),
        voiced_frames=len(voiced_times),
        interarrival_p50_ms=stats.median(deltas) if deltas else math.nan,
        interarrival_p99_ms=percentile(deltas, 99),
        interarrival_max_ms=max(deltas) if deltas else math.nan,
        gaps=sum(1 for d in deltas if d > 1.5 * frame_ms),
        utterances=tuple(results),
        agent_hung_up=agent_hung_up,
        closed_by_agent=closed_by_agent,
        duration_s=end - started_at,
    )


def _starts_burst(t: float, voiced: Sequence[float], frame_ms: int) -> bool:
    i = bisect.bisect_left(voiced, t)
    return i == 0 or t - voiced[i - 1] > 3 * frame_ms / 1000
