"""``voice-agent serve --workers N``: N processes share the AudioSocket port.

The parent (the supervisor):

* makes a fresh temporary directory holding the shared call store
  (``agent.pbx.callmeta_store`` on a SQLite file) and the prometheus-client multiprocess files
  (``PROMETHEUS_MULTIPROC_DIR``), and removes it at exit;
* binds the AudioSocket address with SO_REUSEPORT without listening, which
  reserves the port (and resolves port 0) for the workers' own sockets;
* runs the FastAGI server (setup and next of every call, whichever worker takes
  the AudioSocket leg) and the metrics exporter, which aggregates the workers;
* starts the workers (``python -m agent.service.workers``), each in its own session so a
  terminal's Ctrl-C reaches only the parent, and restarts one that dies (with
  a growing pause if it keeps dying right after starting; after
  ``GIVE_UP_AFTER`` such deaths in a row, e.g. a configuration only a worker
  reads is broken, the whole service stops with exit code 1 so systemd sees it);
* on SIGTERM/SIGINT makes setup answer busy and sends SIGTERM to every worker,
  which drains its own calls (``agent.service.serve``); a second signal is passed on
  too (the workers skip the rest of the drain). Once the workers are gone it
  waits for the ``next`` steps and exits.

A worker listens on its own SO_REUSEPORT socket (the kernel spreads new
connections over the workers), claims metadata from and stores decisions in the
shared store, and reports its number of calls in progress there (the call
limit counts every worker). Its stdin is a pipe from the parent: end of file
means the parent is gone, and the worker drains and exits.
"""

from __future__ import annotations

import argparse
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import attrs
import trio

from agent.base.config import ServerSettings
from agent.base.settings import Env, export
from agent.business.database import open_database
from agent.pbx.callmeta_store import CallMetadataStore
from agent.pbx.fastagi import AgiSettings, SessionCount, serve_fastagi
from agent.service.listen import AUDIOSOCKET, FASTAGI, METRICS, naming_the_port
from agent.service.serve import Addresses, Service, ServiceSettings, _addresses, wait_for_next_steps

log = logging.getLogger("agent.service.workers")

# A worker that dies sooner than this after starting is "crashing": back off.
STABLE_AFTER_S = 10.0
MAX_RESTART_DELAY_S = 10.0
FIRST_RESTART_DELAY_S = 0.25
GIVE_UP_AFTER = 6  # quick deaths in a row (about 8 s of pauses)
# How long a worker gets to leave after the drain before it is killed.
EXIT_MARGIN_S = 10.0


def reuseport_socket(host: str, port: int, *, listen: bool) -> socket.socket:
    """A TCP socket bound to ``host:port`` with SO_REUSEPORT (listening if asked)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        if listen:
            sock.listen(socket.SOMAXCONN)
    except BaseException:
        sock.close()
        raise
    return sock


def reuseport_listener(host: str, port: int) -> trio.SocketListener:
    sock = reuseport_socket(host, port, listen=True)
    return trio.SocketListener(trio.socket.from_stdlib_socket(sock))


@attrs.define
class Worker:
    index: int
    process: trio.Process | None = None
    started_at: float = 0.0
    restarts: int = 0


class Supervisor:
    def __init__(
        self,
        server: ServerSettings,
        settings: ServiceSettings,
        agi: AgiSettings,
        *,
        workers: int,
        shared_dir: Path,
        store: CallMetadataStore,
        metrics_address: tuple[str, int] | None = None,
        handle_signals: bool = True,
        # One console for every worker (they share the records): ``run_console``.
        console: Callable[..., Awaitable[None]] | None = None,
    ) -> None:
        self.server = server
        self.console = console
        self.settings = settings
        self.agi = agi
        self.store = store
        self.shared_dir = shared_dir
        self.metrics_address = metrics_address
        self.handle_signals = handle_signals
        self.workers = [Worker(i + 1) for i in range(workers)]
        self.first_restart_delay_s = FIRST_RESTART_DELAY_S
        self.gave_up = False
        self._stopping = trio.Event()
        self.agi_sessions = SessionCount()  # the parent's FastAGI sessions open now
        self._signals_sent = 0

    def command(self, worker: Worker) -> list[str]:
        return [
            sys.executable,
            "-m",
            "agent.service.workers",
            "--index",
            str(worker.index),
            "--host",
            self.server.host,
            "--port",
            str(self.server.port),
            "--brain",
            self.server.brain,
            "--store",
            self.store.db.target,
        ]

    def shutdown(self, why: str = "requested") -> None:
        log.info("shutdown (%s): telling %d workers to drain", why, len(self.live()))
        self._stopping.set()
        self._signals_sent += 1
        for worker in self.live():
            worker.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]

    def live(self) -> list[Worker]:
        return [w for w in self.workers if w.process is not None and w.process.returncode is None]

    async def run(self, *, task_status: trio.TaskStatus[Addresses] = trio.TASK_STATUS_IGNORED):
        async with trio.open_nursery() as nursery:
            if self.handle_signals:
                nursery.start_soon(self._watch_signals)
            with naming_the_port(FASTAGI, self.agi.host, self.agi.port):
                agi_listeners = await nursery.start(
                    functools.partial(
                        serve_fastagi,
                        # VOICE_AGENT_MAX_CALLS is what one worker keeps in time.
                        attrs.evolve(self.agi, max_calls=self.agi.max_calls * len(self.workers)),
                        self.store,
                        active_calls=self.store.total_load,
                        clock=time.monotonic,
                        accepting=lambda: not self._stopping.is_set(),
                        sessions=self.agi_sessions,
                    )
                )
            metrics: tuple[tuple[str, int], ...] = ()
            if self.metrics_address is not None and self.metrics_address[1]:
                from agent.observe.metrics import Metrics, serve_metrics

                host, port = self.metrics_address
                with naming_the_port(METRICS, host, port):
                    metrics_of_all = Metrics()
                    metrics_of_all.watch_outbox(Env().get("VOICE_AGENT_DB"))
                    found = await nursery.start(serve_metrics, metrics_of_all, host, port)
                metrics = _addresses(found)
            console: tuple[str, ...] = ()
            if self.console is not None:
                console = tuple(await nursery.start(self.console))
            async with trio.open_nursery() as workers:
                for worker in self.workers:
                    await workers.start(self._keep_running, worker)
                task_status.started(
                    Addresses(
                        ((self.server.host, self.server.port),),
                        _addresses(agi_listeners),
                        metrics,
                        console,
                    )
                )
            # Until every call's next step is collected and its session has ended: a
            # session cancelled mid-reply resets Asterisk's connection (as serve does).
            await wait_for_next_steps(
                self.store, time.monotonic, self.settings.next_grace_s, self.agi_sessions
            )
            log.info("all workers stopped")
            nursery.cancel_scope.cancel()

    async def _keep_running(
        self, worker: Worker, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        quick_deaths = 0
        while not self._stopping.is_set():
            await self._run_once(worker, task_status)
            task_status = trio.TASK_STATUS_IGNORED
            if self._stopping.is_set():
                return
            lived = trio.current_time() - worker.started_at
            quick_deaths = 0 if lived >= STABLE_AFTER_S else quick_deaths + 1
            if quick_deaths >= GIVE_UP_AFTER:
                log.error(
                    "worker %d died %d times right after starting; stopping the service"
                    " (see its errors above)",
                    worker.index,
                    quick_deaths,
                )
                self.gave_up = True
                self.shutdown("workers keep dying")
                return
            first = self.first_restart_delay_s
            delay = min(MAX_RESTART_DELAY_S, first * 2 ** (quick_deaths - 1)) if quick_deaths else 0
            worker.restarts += 1
            log.warning("restarting worker %d in %.2f s", worker.index, delay)
            with trio.move_on_after(delay):
                await self._stopping.wait()

    async def _run_once(self, worker: Worker, task_status: trio.TaskStatus[None]) -> None:
        process = await trio.lowlevel.open_process(
            self.command(worker), stdin=subprocess.PIPE, start_new_session=True
        )
        worker.process, worker.started_at = process, trio.current_time()
        log.info("worker %d started (pid %d)", worker.index, process.pid)
        if self._signals_sent:  # a shutdown came while it was starting
            process.send_signal(signal.SIGTERM)
        task_status.started()
        try:
            await process.wait()
        finally:
            with trio.CancelScope(shield=True):
                await _stop(process)
        self.store.forget_worker(process.pid)
        _mark_dead(process.pid)
        how = _exit_text(process.returncode)
        if self._stopping.is_set():
            log.info("worker %d (pid %d) stopped: %s", worker.index, process.pid, how)
        else:
            log.warning("worker %d (pid %d) died: %s", worker.index, process.pid, how)

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                self.shutdown(signal.Signals(signum).name)


async def _stop(process: trio.Process) -> None:
    """Only reached with the process alive when the supervisor itself is cancelled."""
    if process.returncode is None:
        process.terminate()
        with trio.move_on_after(EXIT_MARGIN_S):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()
    if process.stdin is not None:
        await process.stdin.aclose()


def _exit_text(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"


def _mark_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (active calls) from the aggregate."""
    if Env().is_set("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def run_supervisor(
    server: ServerSettings,
    settings: ServiceSettings,
    agi: AgiSettings,
    workers: int,
    console: Callable[..., Awaitable[None]] | None = None,
) -> int:
    """``serve --workers N`` (blocking)."""
    from agent.observe.metrics import metrics_address

    with naming_the_port(AUDIOSOCKET, server.host, server.port):
        reserved = reuseport_socket(server.host, server.port, listen=False)
    shared = Path(tempfile.mkdtemp(prefix="voice-agent-"))
    # Set before prometheus_client is imported anywhere: the workers inherit it, and
    # the parent's exporter then aggregates their files.
    (shared / "prometheus").mkdir()
    export("PROMETHEUS_MULTIPROC_DIR", str(shared / "prometheus"))
    server = attrs.evolve(server, port=reserved.getsockname()[1])
    store = CallMetadataStore(open_database(shared / "calls.db"))
    supervisor = Supervisor(
        server,
        settings,
        agi,
        workers=workers,
        shared_dir=shared,
        store=store,
        metrics_address=metrics_address(),
        console=console,
    )
    try:
        trio.run(supervisor.run)
    finally:
        store.db.close()
        reserved.close()
        shutil.rmtree(shared, ignore_errors=True)
    return 1 if supervisor.gave_up else 0


# --- the worker process -----------------------------------------------------------------


async def _watch_parent(service: Service) -> None:
    """End of file on stdin: the supervisor is gone (killed); drain and leave."""
    stdin = trio.lowlevel.FdStream(os.dup(0))
    async with stdin:
        while await stdin.receive_some(1024):
            pass
    service.shutdown("the supervisor is gone")


async def _worker(service: Service) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_parent, service)
        await service.run()
        nursery.cancel_scope.cancel()


def worker_main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agent.service.workers")
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--brain", required=True)
    parser.add_argument("--store", required=True)
    args = parser.parse_args(argv)
    from agent.base.logs import configure_logging, log_format

    configure_logging(log_format(), level=logging.INFO)
    pid = os.getpid()
    server = attrs.evolve(
        ServerSettings.from_env(), host=args.host, port=args.port, brain=args.brain
    )
    store = CallMetadataStore(open_database(args.store))
    service = Service(
        server,
        ServiceSettings.from_env(),
        store=store,
        clock=time.monotonic,
        metrics_address=(args.host, 0),  # metrics are written; the parent serves them
        listeners=[reuseport_listener(args.host, args.port)],
        label=f"worker {args.index} (pid {pid})",
        on_load=lambda active: store.set_load(pid, active),
        observe=True,
    )
    try:
        trio.run(_worker, service)
    finally:
        store.forget_worker(pid)
        store.db.close()
    return 0


if __name__ == "__main__":
    sys.exit(worker_main())
