"""A private Asterisk for the real-PBX tier: found, configured, started, watched.

Everything lives in one temporary folder: ``asterisk.conf`` points every directory
there (modules and XML docs stay in the install), ``modules.conf`` is the
project's own ``asterisk/modules.conf`` (only modules this build lacks are
dropped) plus what the tier's phone needs, and ``extensions.conf`` holds, per
agent slot, the project's ``asterisk/extensions.conf`` unchanged except for the
two ports and a suffix on its context names (so several agents can sit behind
one Asterisk), plus the tier's own phone and transfer-target contexts.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

import attrs

from tests.paths import ASTERISK

ENV = "VOICE_AGENT_TEST_ASTERISK"
CONTEXTS = ("voice-agent-inbound-dial", "voice-agent-inbound", "voice-agent-after",
            "voice-agent-fallback", "voice-agent-minimal")  # fmt: skip
# What the phone and the target contexts use on top of the shipped modules.conf.
TIER_MODULES = (
    "pbx_spool", "app_playback", "app_mixmonitor", "format_wav", "format_pcm", "format_sln",
    "app_senddtmf", "app_waitforsilence", "res_timing_timerfd", "app_verbose", "app_system",
    "func_strings", "func_channel", "func_callerid", "app_exec", "app_playtones",
)  # fmt: skip
# Asterisk's normal noise: app_audiosocket logs this on every caller hang-up.
KNOWN_NOISE = (r"app_audiosocket\.c: Failed to receive frame from channel",)
WATCHED = re.compile(
    r"\] (WARNING|ERROR)\[[^\]]*\](?:\[[^\]]*\])? ((?:app|chan|res)_(?:audiosocket|agi)\.c:.*)"
)


def find_asterisk(env: dict[str, str] | None = None) -> tuple[Path | None, str]:
    """The binary: VOICE_AGENT_TEST_ASTERISK (a prefix or the binary), else PATH.
    Returns (binary, "") or (None, the one-line reason to skip)."""
    given = (env if env is not None else os.environ).get(ENV, "").strip()
    if given:
        path = Path(given)
        for candidate in (
            path,
            path / "sbin" / "asterisk",
            path / "asterisk" / "sbin" / "asterisk",
        ):
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate.resolve(), ""
        return None, f"{ENV}={given}: no asterisk binary there (want a prefix or the binary)"
    found = shutil.which("asterisk")
    if found:
        return Path(found).resolve(), ""
    return None, f"no Asterisk: set {ENV} to an install prefix or binary, or put asterisk on PATH"


def module_dir(binary: Path) -> Path:
    """The modules next to an install: PREFIX/lib/asterisk/modules (or lib64, or Debian's)."""
    prefix = binary.parent.parent
    for candidate in (
        prefix / "lib" / "asterisk" / "modules",
        prefix / "lib64" / "asterisk" / "modules",
        prefix / "lib" / "x86_64-linux-gnu" / "asterisk" / "modules",
    ):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"{binary}: no lib/asterisk/modules beside it")


def data_dir(binary: Path) -> Path:
    """Where the XML docs are (Asterisk will not start without them)."""
    prefix = binary.parent.parent
    for candidate in (prefix / "var" / "lib" / "asterisk", prefix / "share" / "asterisk",
                      Path("/var/lib/asterisk"), Path("/usr/share/asterisk")):  # fmt: skip
        if (candidate / "documentation").is_dir():
            return candidate
    return prefix / "var" / "lib" / "asterisk"


@attrs.frozen
class Slot:
    """One agent's place in the dialplan: its ports and its copy of the contexts."""

    name: str
    audio_port: int
    agi_port: int

    def context(self, base: str) -> str:
        return f"{base}-{self.name}"


def shipped_dialplan(slot: Slot, *, dial_codec: str = "slin") -> str:
    """asterisk/extensions.conf with the slot's ports and context names."""
    text = (ASTERISK / "extensions.conf").read_text()
    text = text.replace("127.0.0.1:4573", f"127.0.0.1:{slot.agi_port}")
    text = text.replace("127.0.0.1:9099", f"127.0.0.1:{slot.audio_port}")
    pattern = re.compile(r"\b(" + "|".join(CONTEXTS) + r")\b")
    text = pattern.sub(lambda m: slot.context(m.group(1)), text)
    if dial_codec != "slin":
        text = text.replace("/c(slin)", f"/c({dial_codec})")
    return text


def shipped_modules(available: Iterable[str]) -> str:
    """asterisk/modules.conf with autoload off, minus what this build lacks, plus the tier's."""
    have = set(available)
    lines = ["[modules]", "autoload = no"]
    for line in (ASTERISK / "modules.conf").read_text().splitlines():
        match = re.match(r"\s*load\s*=\s*(\S+)", line)
        if match and match.group(1) in have:
            lines.append(f"load = {match.group(1)}")
    lines += [f"load = {name}.so" for name in TIER_MODULES if f"{name}.so" in have]
    return "\n".join(lines) + "\n"


def phone_dialplan(agi_port: int, marks: Path) -> str:
    """The tier's phone (driven over FastAGI by the test) and a transfer target
    that writes a file when it is reached."""
    return f"""
[tier-phone]
exten => _X.,1,Answer()
 same => n,AGI(agi://127.0.0.1:{agi_port}/${{EXTEN}})
 same => n,Hangup()

[tier-target]
exten => _[a-z0-9].,1,Answer()
 same => n,System(echo ${{CALLERID(num)}} > {marks}/reached-${{EXTEN}}-${{UNIQUEID}})
 same => n,Wait(1)
 same => n,Hangup()
"""


class Asterisk:
    """A running private Asterisk; ``stop()`` ends it."""

    def __init__(self, binary: Path, root: Path, slots: dict[str, Slot], phone_port: int):
        self.binary, self.root, self.slots, self.phone_port = binary, root, slots, phone_port
        self.conf = root / "etc" / "asterisk.conf"
        self.log = root / "log" / "messages.log"
        self.outgoing = root / "spool" / "outgoing"
        self.marks = root / "marks"
        self.process: subprocess.Popen | None = None

    def write_config(self, dial_codecs: dict[str, str]) -> None:
        modules = module_dir(self.binary)
        for sub in ("etc", "lib", "db", "spool/outgoing", "run", "log", "marks", "calls", "agi"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        dirs = {
            "astetcdir": self.root / "etc", "astmoddir": modules,
            "astvarlibdir": self.root / "lib", "astdbdir": self.root / "db",
            "astkeydir": self.root / "lib", "astdatadir": data_dir(self.binary),
            "astagidir": self.root / "agi", "astspooldir": self.root / "spool",
            "astrundir": self.root / "run", "astlogdir": self.root / "log",
            "astsbindir": self.binary.parent,
        }  # fmt: skip
        options = ["transmit_silence = yes"]  # Wait() sends silence like a real phone
        if os.geteuid() == 0:
            options += ["runuser = root", "rungroup = root"]
        self.conf.write_text(
            "[directories]\n"
            + "".join(f"{k} => {v}\n" for k, v in dirs.items())
            + "[options]\n"
            + "".join(f"{o}\n" for o in options)
        )
        etc = self.root / "etc"
        (etc / "modules.conf").write_text(shipped_modules(p.name for p in modules.iterdir()))
        (etc / "logger.conf").write_text(
            "[general]\ndateformat = %F %T.%3q\n[logfiles]\n"
            "messages.log => notice,warning,error,verbose(3)\n"
        )
        dialplan = [shipped_dialplan(s, dial_codec=dial_codecs.get(s.name, "slin"))
                    for s in self.slots.values()]  # fmt: skip
        dialplan.append(phone_dialplan(self.phone_port, self.marks))
        (etc / "extensions.conf").write_text("\n".join(dialplan))

    def start(self) -> None:
        with open(self.root / "log" / "stderr", "wb") as stderr:
            self.process = subprocess.Popen(
                [str(self.binary), "-C", str(self.conf), "-f", "-n"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"asterisk exited at start-up:\n{self.tail()}")
            if (self.root / "run" / "asterisk.ctl").exists():
                out = self.cli("core waitfullybooted", check=False)
                if "fully booted" in out:
                    failed = [x for x in self.tail(400).splitlines() if "Error loading module" in x]
                    if failed:  # modules.conf does not load what the dialplan needs
                        self.stop()
                        raise RuntimeError("modules failed to load:\n" + "\n".join(failed))
                    return
            time.sleep(0.1)
        raise RuntimeError(f"asterisk did not boot in 20 s:\n{self.tail()}")

    def cli(self, command: str, *, check: bool = True) -> str:
        done = subprocess.run(
            [str(self.binary), "-C", str(self.conf), "-rx", command],
            capture_output=True, text=True, timeout=20, check=check,
        )  # fmt: skip
        return done.stdout

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.cli("core stop now", check=False)
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def log_size(self) -> int:
        return self.log.stat().st_size if self.log.exists() else 0

    def log_since(self, offset: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")

    def unexpected_warnings(self, offset: int, allowed: Iterable[str] = ()) -> list[str]:
        """WARNING/ERROR lines of the AudioSocket and AGI modules since ``offset``,
        minus Asterisk's known noise and what the test expects."""
        patterns = [re.compile(p) for p in (*KNOWN_NOISE, *allowed)]
        found = []
        for line in self.log_since(offset).splitlines():
            match = WATCHED.search(line)
            if match and not any(p.search(match.group(2)) for p in patterns):
                found.append(line)
        return found
