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
from collections.abc import Iterator, Mapping
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
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import Metric

from agent.base.settings import Env, default_of
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
            "mouth_to_ear_seconds", "End of caller speech (VAD) to the first agent frame sent"
        )
        self.stt_final_latency = histogram(
            "stt_final_latency_seconds", "End of caller speech to the STT final transcript"
        )
        self.llm_first_token = histogram(
            "llm_first_token_seconds", "LLM request sent to its first token"
        )
        self.tts_first_audio = histogram(
            "tts_first_audio_seconds", "First text sent to the TTS to its first audio"
        )
        self.agent_added = histogram(
            "agent_added_seconds", "Mouth-to-ear minus the providers' own latencies"
        )
        self.barge_in_reaction = histogram(
            "barge_in_reaction_seconds", "Caller speech onset over the agent to its last frame"
        )
        self.calls = Counter("calls", "Calls ended, by outcome", ["outcome"], registry=reg)
        self.barge_ins = Counter("barge_ins", "Confirmed barge-ins", registry=reg)
        self.false_interruptions = Counter(
            "false_interruptions", "Pauses for caller noise that resumed", registry=reg
        )
        self.provider_errors = Counter(
            "provider_errors", "Provider failures", ["provider", "kind"], registry=reg
        )
        self.late_frames = Counter("late_frames", "Agent frames sent late", registry=reg)
        self.cost = Counter("cost", "Money spent, by provider", ["provider"], registry=reg)
        # Cost per call: call_cost_sum / call_cost_count; per minute of calls:
        # rate(cost_total[1h]) / rate(call_seconds_total[1h]) * 60.
        self.call_cost = Summary("call_cost", "Cost of each call ended", registry=reg)
        self.call_seconds = Counter("call_seconds", "Length of the calls ended", registry=reg)
        self.stage_histograms = {
            "mouth_to_ear": self.mouth_to_ear,
            "stt_final": self.stt_final_latency,
            "llm_first_token": self.llm_first_token,
            "tts_first_audio": self.tts_first_audio,
            "agent_added": self.agent_added,
            "barge_in_reaction": self.barge_in_reaction,
        }
        self.active_calls = Gauge(
            "active_calls", "Calls in progress", registry=reg, multiprocess_mode="livesum"
        )

    def observe_turn(self, turn: TurnRecord) -> None:
        """Record the latencies a finished turn's timestamps give (missing stages skipped)."""
        for stage, seconds in turn_latencies(turn).items():
            self.stage_histograms[stage].observe(seconds)

    def render(self) -> bytes:
        """The text exposition, as a scrape would get it."""
        registry = _scrape_registry(self.registry)
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


def _scrape_registry(registry: CollectorRegistry) -> CollectorRegistry:
    if not Env().is_set("PROMETHEUS_MULTIPROC_DIR"):
        return registry
    from prometheus_client import multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)
    return merged


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
