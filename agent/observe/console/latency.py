"""Latency over time from the turns' timestamps: p50/p95 per stage per bucket.

The stage spans are computed column-wise with numpy (the same rules as
``records_schema.turn_latencies``: a stage with a missing or backwards timestamp is
left out; agent-added is mouth-to-ear minus the provider stages present). Hours that
are over stay as they are, so ``LatencyCache`` computes each closed hour once and
reads only the open hour again: a week of 10,000 calls is read from the store once
per process, not on every chart refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agent.observe.records_schema import STAGES

# Charted stages: the headline and the parts it is made of.
CHART_STAGES = ("mouth_to_ear", "agent_added", "stt_final", "llm_first_token", "tts_first_audio")
# The columns ``spans`` reads, after the turn's absolute time (call start + turn time).
COLUMNS = (
    "caller_speech_end_at",
    "stt_final_at",
    "llm_request_at",
    "llm_first_token_at",
    "tts_request_at",
    "tts_first_audio_at",
    "first_agent_frame_at",
    "barge_in_at",
    "last_agent_frame_at",
    "interrupted",
)
HOUR = 3600.0
SETTLE_S = 120.0  # an hour is closed this long after its end: its last turns are written

Stages = dict[str, np.ndarray]  # stage -> milliseconds


def spans(rows: Sequence[Sequence[Any]]) -> tuple[np.ndarray, Stages]:
    """(turn times, stage -> ms with NaN where absent) of rows (at, *COLUMNS)."""
    if not rows:
        return np.empty(0), {stage: np.empty(0) for stage in STAGES}
    table = np.array(rows, dtype=float)  # None -> nan
    at = table[:, 0]
    col = {name: table[:, i + 1] for i, name in enumerate(COLUMNS)}

    def span(start: str, end: str) -> np.ndarray:
        out = col[end] - col[start]
        out[~(out >= 0)] = np.nan  # missing (nan) or backwards
        return out

    out = {
        "stt_final": span("caller_speech_end_at", "stt_final_at"),
        "llm_first_token": span("llm_request_at", "llm_first_token_at"),
        "tts_first_audio": span("tts_request_at", "tts_first_audio_at"),
        "mouth_to_ear": span("caller_speech_end_at", "first_agent_frame_at"),
    }
    providers = np.nansum(
        np.vstack([out["stt_final"], out["llm_first_token"], out["tts_first_audio"]]), axis=0
    )
    out["agent_added"] = np.maximum(0.0, out["mouth_to_ear"] - providers)  # nan stays nan
    reaction = span("barge_in_at", "last_agent_frame_at")
    reaction[col["interrupted"] != 1] = np.nan
    out["barge_in_reaction"] = reaction
    return at, {stage: values * 1000.0 for stage, values in out.items()}


def _split_hours(at: np.ndarray, stages: Stages, first: int, last: int) -> dict[int, Stages]:
    """Per hour index in [first, last]: each stage's values there (NaNs dropped)."""
    hours = np.floor(at / HOUR).astype(np.int64) if len(at) else np.empty(0, np.int64)
    out = {}
    for hour in range(first, last + 1):
        mask = hours == hour
        out[hour] = {s: v[mask & ~np.isnan(v)].astype(np.float32) for s, v in stages.items()}
    return out


class LatencyCache:
    """Per-hour stage values; ``fetch(since, until)`` gives rows (at, *COLUMNS) of the
    turns whose absolute time may fall in [since, until)."""

    def __init__(self, fetch: Callable[[float, float], Sequence[Sequence[Any]]]) -> None:
        self.fetch = fetch
        self.closed: dict[int, Stages] = {}

    def hours(self, since: float, until: float, now: float) -> dict[int, Stages]:
        first, last = int(since // HOUR), int((until - 1e-9) // HOUR)
        last_closed = int((now - SETTLE_S) // HOUR) - 1
        missing = [h for h in range(first, min(last, last_closed) + 1) if h not in self.closed]
        if missing:
            lo, hi = min(missing), max(missing)
            at, stages = spans(self.fetch(lo * HOUR, (hi + 1) * HOUR))
            for hour, values in _split_hours(at, stages, lo, hi).items():
                self.closed[hour] = values
        open_first = max(first, last_closed + 1)
        fresh: dict[int, Stages] = {}
        if open_first <= last:
            at, stages = spans(self.fetch(open_first * HOUR, (last + 1) * HOUR))
            fresh = _split_hours(at, stages, open_first, last)
        for hour in [h for h in self.closed if h < first - 24 * 31]:
            del self.closed[hour]  # older than any chart: let it go
        return {h: self.closed[h] if h in self.closed else fresh[h] for h in range(first, last + 1)}

    def series(self, *, since: float, until: float, bucket_s: float, now: float) -> dict:
        """Per bucket of ``bucket_s`` (whole hours) from ``since`` (on an hour): each
        charted stage's p50 and p95 in ms (None where no turn had it), and the whole
        range's p50/p95/count per stage."""
        hours = self.hours(since, until, now)
        per_bucket = max(1, round(bucket_s / HOUR))
        keys = sorted(hours)
        buckets = [keys[i : i + per_bucket] for i in range(0, len(keys), per_bucket)]
        series = {}
        for stage in CHART_STAGES:
            p50: list[float | None] = []
            p95: list[float | None] = []
            for bucket in buckets:
                values = np.concatenate([hours[h][stage] for h in bucket])
                low, high = _percentiles(values)
                p50.append(low)
                p95.append(high)
            series[stage] = {"p50": p50, "p95": p95}
        summary = {}
        for stage in STAGES:
            values = np.concatenate([hours[h][stage] for h in keys]) if keys else np.empty(0)
            if len(values):
                low, high = _percentiles(values)
                summary[stage] = {"p50": round(low), "p95": round(high), "n": len(values)}
        return {"t": [bucket[0] * HOUR for bucket in buckets], "series": series, "summary": summary}


def _percentiles(values: np.ndarray) -> tuple[Any, Any]:
    if not len(values):
        return None, None
    low, high = np.percentile(values, [50, 95])
    return round(float(low), 1), round(float(high), 1)
