"""Latency over time from the turns' timestamps: p50/p95 per stage per bucket. Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import numpy as np

from agent.observe.records_schema import STAGES, TurnRecord, turn_latencies

# Charted stages: the headline and the parts it is made of.
CHART_STAGES = ("mouth_to_ear", "agent_added", "stt_final", "llm_first_token", "tts_first_audio")


def latency_series(
    turns: Iterable[tuple[float, TurnRecord]], *, since: float, until: float, bucket_s: float
) -> dict:
    """Per bucket of ``bucket_s`` from ``since``: each stage's p50 and p95 in ms (None
    where no turn had the stage), and the whole range's p50/p95/count per stage.

    A turn falls in the bucket of its own time (its call's start plus the turn's end
    of speech, or the call's start for a greeting)."""
    count = max(1, int(np.ceil((until - since) / bucket_s)))
    per_bucket: dict[tuple[str, int], list[float]] = defaultdict(list)
    whole: dict[str, list[float]] = defaultdict(list)
    for started, turn in turns:
        at = started + (turn.caller_speech_end_at or 0.0)
        index = int((at - since) // bucket_s)
        if not 0 <= index < count:
            continue
        for stage, seconds in turn_latencies(turn).items():
            per_bucket[stage, index].append(seconds * 1000.0)
            whole[stage].append(seconds * 1000.0)
    series: dict[str, dict[str, list[float | None]]] = {}
    for stage in CHART_STAGES:
        p50: list[float | None] = []
        p95: list[float | None] = []
        for index in range(count):
            values = per_bucket.get((stage, index))
            if values:
                low, high = np.percentile(values, [50, 95])
                p50.append(round(float(low), 1))
                p95.append(round(float(high), 1))
            else:
                p50.append(None)
                p95.append(None)
        series[stage] = {"p50": p50, "p95": p95}
    summary = {}
    for stage in STAGES:
        values = whole.get(stage)
        if values:
            low, high = np.percentile(values, [50, 95])
            summary[stage] = {"p50": round(float(low)), "p95": round(float(high)), "n": len(values)}
    return {
        "t": [since + i * bucket_s for i in range(count)],
        "series": series,
        "summary": summary,
    }
