"""The benchmark's processes: the fakes, the agent under test and the callers
(for load.py and soak.py)."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from rig import Budget, tree_usage

BENCH = Path(__file__).resolve().parent
PYTHON = sys.executable
HARNESS_NICE = [5]  # the callers' and fakes' niceness (--harness-nice)
# Callers per process: the softphone (a Trio task tree per call) and the cheap loop.
CALLS_PER_PROCESS = {"softphone": 50, "light": 1000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Fakes:
    """``bench/fakes.py`` in its own process, over TLS unless ``plain``."""

    def __init__(
        self,
        budget: Budget,
        extra: list[str] = (),
        *,
        plain: bool = False,
        nice: int | None = None,
    ) -> None:
        self.proc = subprocess.Popen(
            [
                PYTHON,
                str(BENCH / "fakes.py"),
                f"--stt-latency-ms={budget.stt_latency_ms}",
                f"--llm-first-token-ms={budget.llm_first_token_ms}",
                f"--llm-token-ms={budget.llm_token_ms}",
                f"--tts-first-audio-ms={budget.tts_first_audio_ms}",
                f"--endpointing-ms={budget.endpointing_ms}",
                f"--nice={HARNESS_NICE[0] if nice is None else nice}",
                *(["--plain"] if plain else []),
                *extra,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fakes process did not start")
        self.env = json.loads(line)["env"]

    @property
    def pids(self) -> list[int]:
        return [self.proc.pid]

    def timing(self) -> dict[str, Any]:
        """The fake STT's finals since the last call: the agent's uplink, the fake's time."""
        self.proc.stdin.write("timing\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())["timing"]

    def ask(self, command: str, key: str) -> Any:
        """One request line to the fakes (``script``, ``records``, ``violations``), its answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())[key]

    def stop(self) -> dict:
        self.proc.stdin.close()
        out = self.proc.stdout.read()
        self.proc.wait(10)
        try:
            return json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        except ValueError:
            return {}


# The variables that point the agent's client for each provider at its fake.
_PROVIDER_URLS = {"stt": "DEEPGRAM_URL", "llm": "LLM_BASE_URL", "tts": "CARTESIA_URL"}


class SplitFakes:
    """The three fakes with each provider in a process of its own: ``bench/fakes.py``
    three times, the agent's STT client pointed at the first one's Deepgram, its LLM
    client at the second's OpenAI server, its TTS at the third's Cartesia (the CAs
    of the three in one bundle). At 100 load calls one process serving all three
    took ~40 % of a core and its own lateness reached the agent-added tail; real
    providers are three services too. Same face as ``Fakes``."""

    def __init__(
        self, budget: Budget, extra: list[str] = (), *, plain: bool = False, nice: int | None = None
    ) -> None:
        self.parts: dict[str, Fakes] = {}
        try:
            for role in _PROVIDER_URLS:
                self.parts[role] = Fakes(budget, extra, plain=plain, nice=nice)
        except BaseException:
            self.stop()
            raise
        env = dict(self.parts["llm"].env)
        for role, key in _PROVIDER_URLS.items():
            env[key] = self.parts[role].env[key]
        if not plain:
            cas = [Path(part.env["VOICE_AGENT_CA_FILE"]) for part in self.parts.values()]
            bundle = cas[0].with_name("fake-providers-cas.pem")
            bundle.write_text("".join(ca.read_text() for ca in cas))
            env["VOICE_AGENT_CA_FILE"] = str(bundle)
        self.env = env

    @property
    def pids(self) -> list[int]:
        return [part.proc.pid for part in self.parts.values()]

    def timing(self) -> dict[str, Any]:
        """``Fakes.timing`` with each provider's figures from its own process."""
        timed = {role: part.timing() for role, part in self.parts.items()}
        stt = timed["stt"]
        messages = {
            **stt["messages"],
            "tts_chunks": timed["tts"]["messages"]["tts_chunks"],
            "tts_texts": timed["tts"]["messages"]["tts_texts"],
            "llm_connections": timed["llm"]["messages"]["llm_connections"],
        }
        overshoot = {role: timed[role]["overshoot_ms"][role] for role in timed}
        return {**stt, "messages": messages, "overshoot_ms": overshoot}

    def stop(self) -> dict:
        return {role: part.stop() for role, part in self.parts.items()}


def _niced(nice: int):
    """A preexec_fn setting the child's niceness (negative needs root): ``--agent-nice``."""
    return (lambda: os.nice(nice)) if nice else None


class Server:
    """The agent under test, in its own process (tree)."""

    def __init__(
        self,
        env: dict[str, str],
        workers: int,
        shared_client: bool,
        tmp: Path,
        profile: Path | None = None,
        agent_tree: Path | None = None,
        nice: int = 0,
        probe_options: tuple[str, ...] = (),
    ) -> None:
        self.control: int | None = None
        self.agent = str(agent_tree or BENCH.parent) + "/agent"
        env = {
            **os.environ,
            **env,
            # Another checkout's agent/ (an earlier commit, for a before/after).
            **({"PYTHONPATH": str(agent_tree)} if agent_tree is not None else {}),
            "VOICE_AGENT_DB": str(tmp / "agent.sqlite3"),
            "VOICE_AGENT_METRICS_PORT": "0",
            "VOICE_AGENT_AGI_PORT": "0",
            "VOICE_AGENT_MAX_CALLS": "0",  # the benchmark finds the limit
        }
        self.log = open(tmp / f"server-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        if workers == 1:
            command = [PYTHON, str(BENCH / "serve_probe.py")]
            if shared_client:
                command.append("--shared-llm-client")
            if profile is not None:
                command.append(f"--profile={profile}")
            command.extend(probe_options)
            self.proc = subprocess.Popen(
                command,
                env=env,
                stdout=subprocess.PIPE,
                stderr=self.log,
                text=True,
                preexec_fn=_niced(nice),
            )
            ready = json.loads(self.proc.stdout.readline())
            self.port, self.control = ready["port"], ready["control"]
            self.agent = ready["agent"]
        else:
            self.port = free_port()
            command = [PYTHON, "-m", "agent", "serve", "--brain", "conversation"]
            command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)]
            self.proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.PIPE,
                stdout=self.log,
                stderr=self.log,
                preexec_fn=_niced(nice),
            )
            self._wait_listening()

    def _wait_listening(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.proc.returncode}); see {self.log.name}"
                )
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                time.sleep(1.0)  # every worker up
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("the server did not start listening")

    def usage(self) -> tuple[float, int]:
        return tree_usage(self.proc.pid)

    def stats(self) -> dict[str, Any] | None:
        if self.control is None:
            return None
        with socket.create_connection(("127.0.0.1", self.control), timeout=5) as s:
            s.sendall(b"stats\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
        return json.loads(data)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def run_callers(
    port: int, calls: int, duration: float, stagger: float, tmp: Path, kind="softphone", **extra
):
    """Start the callers (``light``: bench/loadcallers.py; ``softphone``: bench/callers.py)."""
    per = CALLS_PER_PROCESS[kind]
    script = "loadcallers.py" if kind == "light" else "callers.py"
    procs = []
    for index in range(math.ceil(calls / per)):
        share = min(per, calls - index * per)
        out = tmp / f"callers-{index}-{time.monotonic_ns()}.json"
        command = [
            PYTHON,
            str(BENCH / script),
            f"--port={port}",
            f"--calls={share}",
            f"--duration={duration}",
            f"--stagger={stagger}",
            f"--seed={index + 1}",
            f"--nice={HARNESS_NICE[0]}",
            f"--out={out}",
            *(f"--{k.replace('_', '-')}={v}" for k, v in extra.items()),
        ]
        procs.append((subprocess.Popen(command), out))
    return procs


def collect(procs) -> dict:
    merged: dict[str, Any] = {}
    for proc, out in procs:
        proc.wait()
        data = json.loads(out.read_text())
        for key, value in data.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                merged[key] = merged.get(key, 0) + value
            else:
                merged[key] = merged.get(key, []) + value
    return merged
