"""Observability of the serving process: records, metrics, recording and purge.

``run_observability`` is a service task (``await nursery.start(...)`` gives the
``Observability``): it opens the records store (in a thread), makes or takes
the ``Metrics``, serves them on ``VOICE_AGENT_METRICS_HOST:PORT`` (unless told
not to), starts the recording writer when ``VOICE_AGENT_RECORDING`` is on, and
purges records and recordings older than ``VOICE_AGENT_RECORDS_RETENTION_DAYS``
every ``VOICE_AGENT_PURGE_INTERVAL_S`` (first run at start). Cancelled, it
stops the exporter and the timer and closes the store and the writer.

Each call gets a ``CallObserver`` (``agent.observe.call_observer``): wrap the brain
factory with ``Observability.wrap(factory, metadata_for=...)`` and every call
it makes is observed (``observe(call)`` does it for one call).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import trio

from agent.base.settings import Env, default_of, setting
from agent.media.recording import (
    CallRecorder,
    RecordingSettings,
    RecordingWriter,
    purge_recordings,
    recording_path,
)
from agent.observe.call_observer import CallObserver
from agent.observe.cost import Prices
from agent.observe.metrics import Metrics, metrics_address, serve_metrics
from agent.observe.records import RecordSettings, RecordStore, open_record_store

if TYPE_CHECKING:
    from agent.media.call import BrainFactory, Call

__all__ = ["Observability", "ObservabilitySettings", "PurgeResult", "run_observability"]

log = logging.getLogger(__name__)


class CallParties(Protocol):
    """Who called which number (the AGI setup step's metadata of the call)."""

    did: str
    caller_id: str


@attrs.frozen
class ObservabilitySettings:
    records: RecordSettings = attrs.field(factory=RecordSettings)
    recording: RecordingSettings = attrs.field(factory=RecordingSettings)
    prices: Prices = attrs.field(factory=Prices)
    metrics_host: str = setting("VOICE_AGENT_METRICS_HOST")
    metrics_port: int = setting("VOICE_AGENT_METRICS_PORT")  # 0: no exporter
    # The schema's default; tests purge faster than VOICE_AGENT_PURGE_INTERVAL_S allows.
    purge_interval_s: float = default_of("VOICE_AGENT_PURGE_INTERVAL_S")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ObservabilitySettings:
        reader = Env.of(env)
        host, port = metrics_address(reader)
        return cls(
            records=RecordSettings.from_env(env),
            recording=RecordingSettings.from_env(env),
            prices=Prices.from_env(env),
            metrics_host=host,
            metrics_port=port,
            purge_interval_s=reader.get("VOICE_AGENT_PURGE_INTERVAL_S"),
        )


@attrs.frozen
class PurgeResult:
    cutoff: float  # epoch: calls started and recordings written before it are gone
    calls: int
    recordings: int


class Observability:
    """What every call's observer shares: the store, the metrics, prices, the writer."""

    def __init__(
        self,
        settings: ObservabilitySettings,
        *,
        store: RecordStore,
        metrics: Metrics | None = None,
        writer: RecordingWriter | None = None,
        clock: Callable[[], float] = time.time,
        provider_names: Mapping[str, str] | None = None,
        count_active_calls: bool = True,
    ) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics if metrics is not None else Metrics()
        self.prices = settings.prices
        self.writer = writer
        self.clock = clock  # wall clock (epoch seconds) for the records
        self.provider_names = dict(provider_names or {})
        # False when someone else keeps active_calls (the service's call registry).
        self.count_active_calls = count_active_calls
        self.last_purge: PurgeResult | None = None

    def provider_name(self, role: str) -> str:
        """The ``provider`` label of the cost of ``role`` (stt, llm, tts)."""
        return self.provider_names.get(role, role)

    # --- calls ----------------------------------------------------------------------

    def observe(
        self, call: Call, *, did: str | None = None, caller_id: str | None = None
    ) -> CallObserver:
        """Give ``call`` its observer (and recorder, when recording is on)."""
        observer = CallObserver(self, call, did=did, caller_id=caller_id)
        call.observer = observer
        if self.writer is not None and self.settings.recording.enabled:
            path = recording_path(self.settings.recording.directory, observer.uuid)
            call.recorder = CallRecorder(path, call.sample_rate, self.writer, observer.start)
            observer.recording = str(path)
        return observer

    def wrap(
        self,
        factory: BrainFactory,
        *,
        metadata_for: Callable[[Call], CallParties | None] | None = None,
    ) -> BrainFactory:
        """A brain factory that observes every call ``factory`` makes a brain for.

        ``metadata_for(call)`` gives the call's AGI metadata (``did``, ``caller_id``)
        or None, e.g. ``CallFlow.metadata``."""

        def make(call: Call) -> Any:
            parties = metadata_for(call) if metadata_for is not None else None
            observer = self.observe(
                call,
                did=parties.did or None if parties is not None else None,
                caller_id=parties.caller_id or None if parties is not None else None,
            )
            try:
                brain = factory(call)
                observer.attach(brain)
                return brain
            finally:
                observer.started()

        return make

    # --- upkeep -----------------------------------------------------------------------

    async def flush(self) -> None:
        """Wait until every record and recording queued so far is on disk."""
        await self.store.flush()
        if self.writer is not None:
            await trio.to_thread.run_sync(self.writer.drain)

    async def purge(self, now: float | None = None) -> PurgeResult:
        """Delete the records and recordings older than the retention period."""
        cutoff = self.settings.records.purge_cutoff(self.clock() if now is None else now)
        calls = await self.store.purge(cutoff)
        recordings = await trio.to_thread.run_sync(
            purge_recordings, self.settings.recording.directory, cutoff
        )
        self.last_purge = PurgeResult(cutoff, calls, recordings)
        if calls or recordings:
            log.info("purge: %d calls and %d recordings past retention", calls, recordings)
        return self.last_purge

    async def run_purge_timer(self) -> None:
        while True:
            try:
                await self.purge()
            except Exception as exc:  # a failed purge is retried at the next tick
                log.error("purge failed: %s", exc)
            await trio.sleep(self.settings.purge_interval_s)


def _close(store: RecordStore, writer: RecordingWriter | None) -> None:
    if writer is not None:
        writer.close()
    store.close()


async def run_observability(
    env: Mapping[str, str] | None = None,
    *,
    settings: ObservabilitySettings | None = None,
    metrics: Metrics | None = None,
    exporter: bool = True,
    purge_timer: bool = True,
    count_active_calls: bool = True,
    provider_names: Mapping[str, str] | None = None,
    task_status: trio.TaskStatus[Observability] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the process's observability until cancelled; ``task_status`` gets it.

    ``metrics``: use these (e.g. the service's) instead of new ones. ``exporter``:
    serve them on the configured address (port 0 or False: someone else does).
    ``count_active_calls``: False when the service's call registry sets that gauge.
    """
    settings = settings or ObservabilitySettings.from_env(env)
    store = await trio.to_thread.run_sync(open_record_store, settings.records)
    writer = RecordingWriter() if settings.recording.enabled else None
    obs = Observability(
        settings,
        store=store,
        metrics=metrics,
        writer=writer,
        provider_names=provider_names,
        count_active_calls=count_active_calls,
    )
    try:
        async with trio.open_nursery() as nursery:
            if exporter and settings.metrics_port:
                await nursery.start(
                    serve_metrics, obs.metrics, settings.metrics_host, settings.metrics_port
                )
            if purge_timer:
                nursery.start_soon(obs.run_purge_timer)
            log.info(
                "records: %s; recording %s",
                settings.records.url.split("@")[-1] or settings.records.path,
                settings.recording.directory if writer is not None else "off",
            )
            task_status.started(obs)
            await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(_close, store, writer)
        _mark_process_dead()


def _mark_process_dead() -> None:
    # Multiprocess metrics: this worker's live gauges (active_calls) stop counting.
    if Env().is_set("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())
