"""The ``voice-agent serve`` process: FastAGI + AudioSocket + metrics + the brain's services.

One ``CallMetadataStore`` links the dialplan's steps: the FastAGI ``setup``
step stores a call's DID and caller id under the UUID it issues, the AudioSocket
call claims them when it identifies (``agent.pbx.callflow``), and the ``next`` step
collects what the conversation decided.

Graceful shutdown (SIGTERM or SIGINT, or ``Service.shutdown()``):

1. the AudioSocket listeners close (no new calls) and the ``setup`` step answers
   ``busy``, so the dialplan sends new callers to its fallback; FastAGI stays up
   for the ``next`` steps of the calls still running;
2. calls in progress may finish by themselves for up to ``drain_s``;
3. each call still running is ended politely: the conversation says goodbye,
   then hangs up with a 0x00 (the echo brain just hangs up); after
   ``goodbye_s`` whatever is left is hung up, then cancelled;
4. FastAGI waits (up to ``next_grace_s``) for the ``next`` steps of the calls
   that just ended, then the process exits.

A second signal skips what is left of the drain and goes straight to step 3. The
process ends (exit 1) past the sum plus a margin whatever (``agent.service.deadline``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import attrs
import trio

from agent.base.config import ServerSettings
from agent.base.settings import Env, read_settings, setting
from agent.media.call import BrainFactory, Call
from agent.media.server import CallRegistry, serve_audiosocket
from agent.pbx.callflow import CallFlow
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.fastagi import AgiSettings, SessionCount, handle_agi_connection, serve_fastagi
from agent.pbx.hosts import Router
from agent.service.collector import settle_collector
from agent.service.deadline import MARGIN_S, HardDeadline
from agent.service.drain import drain_calls, wait_for_next_steps
from agent.service.listen import AUDIOSOCKET, FASTAGI, METRICS, naming_the_port

log = logging.getLogger(__name__)

Services = Callable[..., Awaitable[None]]  # async def run(*, task_status)


@attrs.frozen
class ServiceSettings:
    # Calls in progress may finish by themselves for this long after SIGTERM; keep it
    # shorter than the unit's TimeoutStopSec (330 s), which ends in SIGKILL.
    drain_s: float = setting("VOICE_AGENT_DRAIN_S")
    # Time the polite goodbye gets before the remaining calls are hung up.
    goodbye_s: float = setting("VOICE_AGENT_GOODBYE_S")
    # Only UUIDs issued by the AGI setup step may connect.
    require_setup: bool = setting("VOICE_AGENT_REQUIRE_SETUP")
    # After the last call, how long FastAGI waits for the ``next`` steps.
    next_grace_s: float = setting("VOICE_AGENT_NEXT_GRACE_S")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServiceSettings:
        return read_settings(cls, env)


@attrs.frozen
class BrainSetup:
    """The brain ``serve`` runs: its factory and what runs beside the calls."""

    factory: BrainFactory
    services: Services | None = None  # runs beside the calls (e.g. the booking outbox)
    description: str = ""
    providers: dict[str, str] = attrs.field(factory=dict)  # role -> provider, for cost labels
    # Awaited when a call has identified, before its brain is made (e.g. fetch the
    # company profile of the dialled number).
    prepare: Callable[[Call], Awaitable[None]] | None = None


def make_brain(name: str, flow: CallFlow, env: Mapping[str, str] | None = None) -> BrainSetup:
    """The brain ``serve --brain`` names, wired to the call flow (DID, caller id)."""
    if name == "echo":
        from agent.conversation.echo import EchoBrain

        return BrainSetup(EchoBrain, None, "echo")
    from agent.service.wiring import build_conversation

    conversation = build_conversation(env, did_for=flow.did_for, caller_id_for=flow.caller_id_for)
    stt, llm, tts = conversation.names
    return BrainSetup(
        conversation.factory,
        conversation.run_services,
        f"conversation stt={stt} llm={llm} tts={tts}",
        {"stt": stt, "llm": llm, "tts": tts},
        prepare=conversation.prepare,
    )


@attrs.frozen
class Addresses:
    """Where the service ended up listening (port 0 picks a free port)."""

    audiosocket: tuple[tuple[str, int], ...]
    fastagi: tuple[tuple[str, int], ...] = ()
    metrics: tuple[tuple[str, int], ...] = ()
    console: tuple[str, ...] = ()  # the console's URLs (http://127.0.0.1:8088)


def _addresses(listeners: Sequence[object]) -> tuple[tuple[str, int], ...]:
    out = []
    for listener in listeners:
        sock = getattr(listener, "socket", None)
        if sock is not None:
            host, port = sock.getsockname()[:2]
            out.append((host, port))
    return tuple(out)


class Service:
    """One serving process. ``agi=None`` leaves FastAGI out (a worker: the parent runs it)."""

    def __init__(
        self,
        server: ServerSettings,
        settings: ServiceSettings,
        *,
        agi: AgiSettings | None = None,
        brain: Callable[[CallFlow], BrainSetup] | None = None,
        store: Any = None,
        clock: Callable[[], float] = trio.current_time,
        metrics_address: tuple[str, int] | None = None,
        listeners: Sequence[trio.abc.Listener[Any]] | None = None,
        handle_signals: bool = True,
        label: str = "",
        on_load: Callable[[int], None] | None = None,
        observe: bool = False,
        router: Router | None = None,
        host: str = "",
        # The operator's console, when on: ``console_wiring.run_console`` with its
        # settings (handed in: the console's health items import this module).
        console: Callable[..., Awaitable[None]] | None = None,
    ) -> None:
        self.server = server
        self.settings = settings
        self.agi = agi
        self.store = store if store is not None else CallMetadataStore.in_memory()
        self.clock = clock
        self.flow = CallFlow(
            self.store, require_setup=settings.require_setup, clock=clock, label=label, host=host
        )
        self.router = router  # several hosts: where setup sends each call (agent.service.hosts)
        self.brain = (brain or (lambda flow: make_brain(server.brain, flow)))(self.flow)
        self.metrics_address = metrics_address
        self.metrics: Any = None
        # Records, cost, recordings and per-call metrics (agent.observe.process), when on.
        self.observe = observe
        self.observability: Any = None
        self.console = console
        self.console_urls: tuple[str, ...] = ()
        self._factory: BrainFactory = self.brain.factory
        self.listeners = listeners
        self.handle_signals = handle_signals
        self.registry = CallRegistry(on_change=self._load_changed)
        self.drain_result: str | None = None
        self._on_load = on_load
        self._stopping = trio.Event()
        self._accept_closed = trio.Event()
        self._drain_scope: trio.CancelScope | None = None
        self._hurry = False
        self.deadline: HardDeadline | None = None
        self.agi_sessions = SessionCount()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def shutdown(self, why: str = "requested") -> None:
        """Begin the graceful shutdown; a second call skips the rest of the drain."""
        if self.deadline is not None:  # ends the process if the shutdown overruns
            self.deadline.arm()
        if not self._stopping.is_set():
            log.info("shutdown (%s): closing the listeners", why)
            self._stopping.set()
            return
        log.warning("shutdown (%s) again: ending the calls now", why)
        self._hurry = True
        if self._drain_scope is not None:
            self._drain_scope.cancel()

    def _agi_options(self) -> dict[str, Any]:
        return {
            "active_calls": lambda: len(self.registry.active),
            "clock": self.clock,
            "accepting": lambda: not self.stopping,
            "router": self.router,
        }

    async def agi_session(self, stream: trio.abc.Stream) -> str:
        """Serve one FastAGI session on ``stream`` as the FastAGI server would."""
        settings = self.agi if self.agi is not None else AgiSettings()
        return await handle_agi_connection(stream, settings, self.store, **self._agi_options())

    @property
    def shutdown_budget_s(self) -> float:
        """The longest a shutdown may take before the hard deadline ends the process."""
        s, hangup_s = self.settings, self.server.cleanup_timeout_s + 1.0
        return s.drain_s + s.goodbye_s + hangup_s + s.next_grace_s + MARGIN_S

    def _load_changed(self, active: int) -> None:
        if self.metrics is not None:
            self.metrics.active_calls.set(active)
        if self._on_load is not None:
            self._on_load(active)

    async def run(self, *, task_status: trio.TaskStatus[Addresses] = trio.TASK_STATUS_IGNORED):
        self.deadline = HardDeadline(self.shutdown_budget_s) if self.handle_signals else None
        try:
            await self._run(task_status)
        finally:
            if self.deadline is not None:
                self.deadline.cancel()

    async def _run(self, task_status: trio.TaskStatus[Addresses]) -> None:
        async with trio.open_nursery() as services:
            if self.handle_signals:
                services.start_soon(self._watch_signals)
            fastagi, metrics = await self._start_services(services)
            if self.handle_signals:  # the process's own service (not one in a test)
                settle_collector()  # short, rare collector passes once calls come
            async with trio.open_nursery() as calls:
                accepting = trio.CancelScope()
                with naming_the_port(AUDIOSOCKET, self.server.host, self.server.port):
                    listeners = await calls.start(self._accept_calls, accepting, calls)
                addresses = Addresses(_addresses(listeners), fastagi, metrics, self.console_urls)
                log.info(
                    "serving (%s)%s: AudioSocket %s, FastAGI %s",
                    self.brain.description,
                    f" on {self.flow.label}" if self.flow.label else "",
                    _show(addresses.audiosocket),
                    _show(addresses.fastagi) or "off",
                )
                task_status.started(addresses)
                await self._stopping.wait()
                accepting.cancel()  # closes the listeners; calls go on in `calls`
                await self._accept_closed.wait()
                log.info(
                    "listeners closed; draining %d calls for up to %.0f s",
                    len(self.registry.active),
                    0.0 if self._hurry else self.settings.drain_s,
                )
                drain_s = 0.0 if self._hurry else self.settings.drain_s
                self._drain_scope = trio.CancelScope(deadline=trio.current_time() + drain_s)
                self.drain_result = await drain_calls(
                    self.registry,
                    self._drain_scope,
                    goodbye_s=self.settings.goodbye_s,
                    hangup_s=self.server.cleanup_timeout_s + 1.0,
                    calls_nursery=calls,
                )
            if self.agi is not None:
                await wait_for_next_steps(
                    self.store, self.clock, self.settings.next_grace_s, self.agi_sessions
                )
            log.info("shutdown complete (%s)", self.drain_result)
            services.cancel_scope.cancel()

    async def _start_services(self, services: trio.Nursery):
        metrics: tuple[tuple[str, int], ...] = ()
        if self.metrics_address is not None:
            from agent.observe.metrics import Metrics, serve_metrics

            self.metrics = Metrics(host=self.flow.host)
            if self.agi is not None:  # the parent of workers watches it for them
                self.metrics.watch_outbox(Env().get("VOICE_AGENT_DB"))
            host, port = self.metrics_address
            if port:
                with naming_the_port(METRICS, host, port):
                    found = await services.start(serve_metrics, self.metrics, host, port)
                metrics = _addresses(found)
        if self.observe:
            from agent.observe.process import run_observability

            self.observability = await services.start(
                functools.partial(
                    run_observability,
                    metrics=self.metrics,
                    exporter=False,  # served above (or by the workers' parent)
                    count_active_calls=False,  # the call registry keeps that gauge
                    provider_names=self.brain.providers,
                )
            )
            self._factory = self.observability.wrap(
                self.brain.factory, metadata_for=self.flow.metadata
            )
        if self.console is not None:
            store = self.observability.store if self.observability is not None else None
            urls = await services.start(functools.partial(self.console, store=store))
            self.console_urls = tuple(urls)
        if self.brain.prepare is not None:
            self._factory = _prepared(self.brain.prepare, self._factory)
        if self.brain.services is not None:
            await services.start(self.brain.services)
        fastagi: tuple[tuple[str, int], ...] = ()
        if self.agi is not None:
            with naming_the_port(FASTAGI, self.agi.host, self.agi.port):
                agi_listeners = await services.start(
                    functools.partial(
                        serve_fastagi,
                        self.agi,
                        self.store,
                        sessions=self.agi_sessions,
                        **self._agi_options(),
                    )
                )
            fastagi = _addresses(agi_listeners)
        return fastagi, metrics

    async def _accept_calls(
        self,
        scope: trio.CancelScope,
        calls: trio.Nursery,
        *,
        task_status: trio.TaskStatus[list[Any]] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with scope:
                await serve_audiosocket(
                    self.server,
                    self._factory,
                    registry=self.registry,
                    accept=self.flow.accept,
                    on_ended=self.flow.ended,
                    listeners=self.listeners,
                    handler_nursery=calls,
                    task_status=task_status,
                )
        finally:
            self._accept_closed.set()

    async def _watch_signals(self) -> None:
        # A plain handler rather than trio's signal receiver: it arms the hard
        # deadline at once, even if the event loop never gets to the shutdown.
        token = trio.lowlevel.current_trio_token()
        deadline = self.deadline

        def on_signal(signum: int, frame: object) -> None:
            if deadline is not None:
                deadline.arm()
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(self.shutdown, signal.Signals(signum).name)

        signals = (signal.SIGTERM, signal.SIGINT)
        previous = {signum: signal.signal(signum, on_signal) for signum in signals}
        try:
            await trio.sleep_forever()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _prepared(prepare: Callable[[Call], Awaitable[None]], factory: BrainFactory):
    """An async brain factory: ``prepare(call)`` first (``Call`` awaits it)."""

    async def make(call: Call):
        await prepare(call)
        return factory(call)

    return make


def _show(addresses: tuple[tuple[str, int], ...]) -> str:
    return ", ".join(f"{host}:{port}" for host, port in addresses)
