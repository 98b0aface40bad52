"""Prometheus metrics and a small Trio HTTP exporter (no threads).

``Metrics`` owns its own ``CollectorRegistry`` so tests and several servers in
one process never collide on the global registry. ``serve_metrics`` answers
``GET /metrics`` on 127.0.0.1:9102 by default; it runs in the caller's nursery
and stops cleanly on cancellation.

Several worker processes: either give each its own port (9102, 9103, ...) and
scrape them all, or use prometheus-client's multiprocess mode: set
``PROMETHEUS_MULTIPROC_DIR`` to an empty directory (cleared at deployment
start) before any worker starts; the exporter then aggregates every worker's
files with a ``MultiProcessCollector`` per scrape (``active_calls`` is summed
over live processes), and any one worker can serve it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import trio
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Summary,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from agent.base.settings import Env, default_of
from agent.observe.business_view import BookingsView
from agent.observe.records_schema import TurnRecord, turn_latencies

log = logging.getLogger(__name__)

DEFAULT_HOST = default_of("VOICE_AGENT_METRICS_HOST")
DEFAULT_PORT = default_of("VOICE_AGENT_METRICS_PORT")

# Voice latencies live between ~20 ms and a few seconds.
LATENCY_BUCKETS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0)

_MAX_REQUEST = 8192
_REQUEST_TIMEOUT_S = 5.0


class Metrics:
    """Every metric of the agent, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None, *, host: str = "") -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        # Several agent hosts (a shared PostgreSQL store): every sample carries host=NAME,
        # so one dashboard sums or splits them whatever the scrape's own labels are.
        self.host = host
        reg = self.registry

        def histogram(name: str, doc: str) -> Histogram:
            return Histogram(name, doc, registry=reg, buckets=LATENCY_BUCKETS)

        self.mouth_to_ear = histogram(
            "voice_agent_mouth_to_ear_seconds",
            "End of caller speech (VAD) to the first agent frame sent",
        )
        self.stt_final_latency = histogram(
            "voice_agent_stt_final_seconds", "End of caller speech to the STT final transcript"
        )
        self.llm_first_token = histogram(
            "voice_agent_llm_first_token_seconds", "LLM request sent to its first token"
        )
        self.tts_first_audio = histogram(
            "voice_agent_tts_first_audio_seconds", "First text sent to the TTS to its first audio"
        )
        self.agent_added = histogram(
            "voice_agent_agent_added_seconds", "Mouth-to-ear minus the providers' own latencies"
        )
        self.barge_in_reaction = histogram(
            "voice_agent_barge_in_reaction_seconds",
            "Caller speech onset over the agent to its last frame",
        )
        self.calls = Counter(
            "voice_agent_calls",
            "Calls ended, by outcome and company",
            ["outcome", "company"],
            registry=reg,
        )
        self.barge_ins = Counter("voice_agent_barge_ins", "Confirmed barge-ins", registry=reg)
        self.false_interruptions = Counter(
            "voice_agent_false_interruptions", "Pauses for caller noise that resumed", registry=reg
        )
        self.provider_errors = Counter(
            "voice_agent_provider_errors", "Provider failures", ["provider", "kind"], registry=reg
        )
        self.late_frames = Counter(
            "voice_agent_late_frames", "Agent frames sent late", registry=reg
        )
        self.cost = Counter(
            "voice_agent_cost", "Money spent, by provider", ["provider"], registry=reg
        )
        # Cost per call: voice_agent_call_cost_sum / _count; per minute of calls:
        # rate(voice_agent_cost_total[1h]) / rate(voice_agent_call_duration_seconds_total[1h]) * 60.
        self.call_cost = Summary("voice_agent_call_cost", "Cost of each call ended", registry=reg)
        self.call_seconds = Counter(
            "voice_agent_call_duration_seconds", "Length of the calls ended", registry=reg
        )
        self.stage_histograms = {
            "mouth_to_ear": self.mouth_to_ear,
            "stt_final": self.stt_final_latency,
            "llm_first_token": self.llm_first_token,
            "tts_first_audio": self.tts_first_audio,
            "agent_added": self.agent_added,
            "barge_in_reaction": self.barge_in_reaction,
        }
        self.active_calls = Gauge(
            "voice_agent_active_calls",
            "Calls in progress",
            registry=reg,
            multiprocess_mode="livesum",
        )

        self._collectors: list[OutboxBacklog] = []

    def watch_outbox(self, path: str | Path) -> None:
        """Export the outbox's backlog (read from its SQLite file at each scrape)."""
        collector = OutboxBacklog(path)
        self.registry.register(collector)
        self._collectors.append(collector)

    def observe_turn(self, turn: TurnRecord) -> None:
        """Record the latencies a finished turn's timestamps give (missing stages skipped)."""
        for stage, seconds in turn_latencies(turn).items():
            self.stage_histograms[stage].observe(seconds)

    def render(self) -> bytes:
        """The text exposition, as a scrape would get it."""
        registry = _scrape_registry(self.registry, self._collectors)
        return generate_latest(_HostLabel(registry, self.host) if self.host else registry)


class _HostLabel:
    """A registry's samples with ``host`` added (a collector view, nothing copied)."""

    def __init__(self, registry: Any, host: str) -> None:
        self.registry, self.host = registry, host

    def collect(self) -> Iterator[Metric]:
        for family in self.registry.collect():
            out = Metric(family.name, family.documentation, family.type, family.unit)
            for s in family.samples:
                labels = {**s.labels, "host": self.host}
                out.add_sample(s.name, labels, s.value, s.timestamp, s.exemplar)
            yield out


def _scrape_registry(
    registry: CollectorRegistry, collectors: list[OutboxBacklog]
) -> CollectorRegistry:
    if not Env().is_set("PROMETHEUS_MULTIPROC_DIR"):
        return registry
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    for collector in collectors:  # read from the database, not per process
        merged.register(collector)
    return merged


class OutboxBacklog:
    """``voice_agent_outbox_pending{kind}`` and the age of the oldest pending item, read
    from the outbox table at scrape time: every worker (and host) writes the same store,
    so any process can tell, and nothing has to keep a gauge in step."""

    def __init__(self, target: str | Path, clock=time.time) -> None:
        self.view, self.clock = BookingsView(target), clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        pending = GaugeMetricFamily(
            "voice_agent_outbox_pending",
            "Bookings and notifications still waiting for a final answer",
            labels=["kind"],
        )
        oldest = GaugeMetricFamily(
            "voice_agent_outbox_oldest_pending_age_seconds",
            "How long the oldest pending outbox item has waited (0 when none)",
        )
        rows = self._read()
        for kind in ("booking", "notify"):
            pending.add_metric([kind], sum(n for k, n, _ in rows if k == kind))
        first = min((at for _, _, at in rows if at is not None), default=None)
        oldest.add_metric([], 0.0 if first is None else max(0.0, self.clock() - first))
        yield pending
        yield oldest

    def _read(self) -> list[tuple[str, int, float | None]]:
        try:
            return self.view.backlog()
        except Exception as exc:  # a locked file, a server away: nothing known this scrape
            log.debug("outbox backlog: %s", exc)
            return []


def metrics_address(env: Mapping[str, str] | Env | None = None) -> tuple[str, int]:
    """``VOICE_AGENT_METRICS_HOST`` / ``VOICE_AGENT_METRICS_PORT`` (0 disables the exporter)."""
    reader = Env.of(env)
    return reader.get("VOICE_AGENT_METRICS_HOST"), reader.get("VOICE_AGENT_METRICS_PORT")


def _response(status: str, content_type: str, body: bytes) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


async def _handle(stream: trio.abc.Stream, metrics: Metrics) -> None:
    try:
        request = b""
        with trio.move_on_after(_REQUEST_TIMEOUT_S):
            while b"\r\n\r\n" not in request and len(request) < _MAX_REQUEST:
                chunk = await stream.receive_some(4096)
                if not chunk:
                    break
                request += chunk
        parts = request.split(b"\r\n", 1)[0].split()
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            reply = _response("400 Bad Request", "text/plain", b"bad request\n")
        elif parts[0] not in (b"GET", b"HEAD"):
            reply = _response("405 Method Not Allowed", "text/plain", b"GET only\n")
        elif parts[1].split(b"?")[0] not in (b"/metrics", b"/"):
            reply = _response("404 Not Found", "text/plain", b"try /metrics\n")
        else:
            body = metrics.render()
            reply = _response("200 OK", CONTENT_TYPE_LATEST, body)
            if parts[0] == b"HEAD":
                reply = reply[: len(reply) - len(body)]
        await stream.send_all(reply)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass  # the scraper went away
    finally:
        await trio.aclose_forcefully(stream)


async def serve_metrics(
    metrics: Metrics,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    task_status: trio.TaskStatus[list[trio.SocketListener]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``GET /metrics`` until cancelled; ``task_status`` gets the listeners."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    for listener in listeners:
        name = listener.socket.getsockname()
        log.info("metrics exporter listening on http://%s:%s/metrics", name[0], name[1])
    task_status.started(listeners)
    await trio.serve_listeners(lambda stream: _handle(stream, metrics), listeners)
