"""``voice-agent report``: per-stage latency percentiles, barge-in figures, outcomes
and cost for a period, from the records. Pure apart from ``plot_report`` (which
imports matplotlib, an optional extra: ``pip install 'voice-agent[plot]'``).
"""

from __future__ import annotations

import datetime
import math
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import attrs

from agent.base.errors import ConfigError
from agent.observe.callreport import percentile
from agent.observe.records_schema import STAGES, CallRecord, TurnRecord, turn_latencies

STAGE_TITLES = {
    "mouth_to_ear": "mouth-to-ear",
    "stt_final": "STT final",
    "llm_first_token": "LLM first token",
    "tts_first_audio": "TTS first audio",
    "agent_added": "agent-added",
    "barge_in_reaction": "barge-in reaction",
}


@attrs.frozen
class StageSummary:
    stage: str
    count: int
    p50: float  # seconds; NaN without samples
    p95: float
    p99: float


@attrs.frozen
class Report:
    since: float | None
    until: float | None
    calls: int
    minutes: float
    outcomes: tuple[tuple[str, int], ...]  # most frequent first
    stages: tuple[StageSummary, ...]
    samples: dict[str, list[float]] = attrs.field(hash=False, repr=False)
    agent_turns: int = 0
    interrupted_turns: int = 0
    barge_ins: int = 0
    false_interruptions: int = 0
    cost: float = 0.0
    currency: str = ""
    # Calls per agent host (several hosts sharing a PostgreSQL store), by name.
    hosts: tuple[tuple[str, int], ...] = ()

    @property
    def cost_per_minute(self) -> float:
        return self.cost / self.minutes if self.minutes > 0 else 0.0


def build_report(
    calls: Sequence[CallRecord],
    turns: Sequence[TurnRecord],
    *,
    since: float | None = None,
    until: float | None = None,
) -> Report:
    samples: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for turn in turns:
        for stage, seconds in turn_latencies(turn).items():
            samples[stage].append(seconds)
    stages = tuple(
        StageSummary(
            stage,
            len(values),
            percentile(values, 50),
            percentile(values, 95),
            percentile(values, 99),
        )
        for stage, values in samples.items()
    )
    seconds = sum(
        c.ended_at - c.started_at
        for c in calls
        if c.ended_at is not None and c.started_at is not None
    )
    currencies = {c.currency for c in calls if c.currency}
    outcomes = Counter(c.outcome or "unfinished" for c in calls)
    hosts = Counter(c.host or "-" for c in calls)
    return Report(
        since=since,
        until=until,
        calls=len(calls),
        minutes=seconds / 60.0,
        outcomes=tuple(sorted(outcomes.items(), key=lambda item: (-item[1], item[0]))),
        stages=stages,
        samples=samples,
        agent_turns=sum(1 for t in turns if t.agent_text),
        interrupted_turns=sum(1 for t in turns if t.interrupted),
        barge_ins=sum(c.barge_ins or 0 for c in calls),
        false_interruptions=sum(c.false_interruptions or 0 for c in calls),
        cost=sum(c.cost or 0.0 for c in calls),
        currency=currencies.pop() if len(currencies) == 1 else ("mixed" if currencies else ""),
        hosts=tuple(sorted(hosts.items())),
    )


def _when(epoch: float | None, default: str) -> str:
    if epoch is None:
        return default
    return datetime.datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M")


def _ms(seconds: float) -> str:
    return "-" if math.isnan(seconds) else f"{seconds * 1000:.0f}"


def format_report(report: Report) -> str:
    r = report
    lines = [
        f"calls {_when(r.since, 'the start')} .. {_when(r.until, 'now')}: {r.calls} calls,"
        f" {r.minutes:.1f} min",
        "outcomes: " + (", ".join(f"{name} {n}" for name, n in r.outcomes) or "none"),
        *(
            ["hosts: " + ", ".join(f"{name} {n}" for name, n in r.hosts)]
            if len(r.hosts) > 1
            else []
        ),
        f"cost: {r.cost:.4f} {r.currency or ''}".rstrip()
        + f" ({r.cost_per_minute:.4f} per minute)",
        "",
        f"{'stage':<20}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}",
    ]
    for s in r.stages:
        lines.append(
            f"{STAGE_TITLES[s.stage]:<20}{s.count:>6}{_ms(s.p50):>9}{_ms(s.p95):>9}{_ms(s.p99):>9}"
        )
    share = 100.0 * r.interrupted_turns / r.agent_turns if r.agent_turns else 0.0
    lines += [
        "",
        f"barge-ins: {r.barge_ins} confirmed; {r.interrupted_turns} of {r.agent_turns} agent"
        f" turns cut short ({share:.1f} %); false interruptions resumed: {r.false_interruptions}",
    ]
    return "\n".join(lines)


def plot_report(report: Report, path: str | Path) -> None:
    """Draw each stage's latency distribution (box plot and CDF) into a PNG."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ConfigError("--plot needs matplotlib: pip install 'voice-agent[plot]'") from exc
    stages = [s for s in STAGES if report.samples.get(s)]
    fig, (box, cdf) = plt.subplots(1, 2, figsize=(12, 5))
    try:
        if stages:
            data = [[v * 1000 for v in report.samples[s]] for s in stages]
            box.boxplot(data, whis=(5, 95), showfliers=True)
            labels = [STAGE_TITLES[s] for s in stages]
            box.set_xticks(range(1, len(stages) + 1), labels, rotation=20, ha="right")
            for stage, values in zip(stages, data, strict=True):
                ordered = sorted(values)
                fraction = [(i + 1) / len(ordered) for i in range(len(ordered))]
                cdf.step(ordered, fraction, where="post", label=STAGE_TITLES[stage])
            cdf.legend(loc="lower right", fontsize="small")
        else:
            box.text(0.5, 0.5, "no turns in this period", ha="center", transform=box.transAxes)
        box.set_ylabel("ms (whiskers: p5..p95)")
        box.set_title("latency per stage")
        cdf.set_xlabel("ms")
        cdf.set_ylabel("share of turns")
        cdf.set_title("cumulative distribution")
        cdf.grid(True, alpha=0.3)
        fig.suptitle(f"{report.calls} calls, {report.minutes:.1f} min")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
    finally:
        plt.close(fig)


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_when(text: str, now: float) -> float:
    """``7d``, ``24h``, ``30m`` (that long before ``now``) or an ISO date/time (local
    time unless it has an offset) -> epoch seconds."""
    m = _RELATIVE.match(text)
    if m is not None:
        return now - float(m[1]) * _UNIT_S[m[2]]
    try:
        return datetime.datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise ConfigError(
            f"{text!r}: expected a span like 7d, 24h, 30m or a date like 2025-05-13"
        ) from None
