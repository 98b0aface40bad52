"""Fixtures of the real-Asterisk tier (``-m pbx``, ``make test-pbx``).

One private Asterisk per session (``asterisk``); per test, the phones' FastAGI
server and the log check (``tier``); agents are real ``voice-agent serve``
subprocesses with the offline stack (``tier.agent(slot, ...)``).
"""

from __future__ import annotations

import json
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from agent.demo.scenarios import CALLER_LINES
from tests.paths import REPO
from tests.pbx.asterisk.phone import Phone, Switchboard
from tests.pbx.asterisk.tier import Asterisk, Slot, find_asterisk
from tests.serve_process import free_port, serve_process

# Agent slots: each has its own ports and its own copy of the shipped contexts.
SLOTS = ("main", "dial", "wide", "busy", "term", "down")
DIAL_CODECS = {"wide": "slin16"}
THAMES_DID, SPARKS_DID = "02071234567", "01614960000"


def companies(target_dir: Path) -> Path:
    """The bundled companies, open 08:00-18:00 every day (so "tomorrow morning"
    always has slots), transfers dialling the tier's recording target, no
    booking API or notifications over the network."""
    data = json.loads((REPO / "agent" / "business" / "data" / "companies.json").read_text())
    for company in data["companies"]:
        company["hours"] = {day: ["08:00-18:00"] for day in company["hours"] | {"sat": 0, "sun": 0}}
        company["booking_api"] = None
        company["notify"] = None
        for target in company["transfer_targets"]:
            name = "".join(c for c in target["name"].lower() if c.isalnum())
            target["dial"] = f"Local/{company['id'][:6]}{name}@tier-target"
    path = target_dir / "companies.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture(scope="session")
def asterisk():
    pytest.importorskip("faster_whisper", reason="the offline extra is not installed")
    pytest.importorskip("espeakng_loader", reason="the offline extra is not installed")
    binary, reason = find_asterisk()
    if binary is None:
        pytest.skip(reason)
    with tempfile.TemporaryDirectory(prefix="voice-agent-pbx-") as root:
        slots = {name: Slot(name, free_port(), free_port()) for name in SLOTS}
        instance = Asterisk(binary, Path(root), slots, free_port())
        instance.write_config(DIAL_CODECS)
        companies(instance.root)
        instance.start()
        try:
            yield instance
        finally:
            instance.stop()


@attrs.define
class Tier:
    asterisk: Asterisk
    switchboard: Switchboard
    nursery: trio.Nursery
    allowed: list[str] = attrs.Factory(list)  # log lines this test expects

    # The demo's recorded caller lines (8 kHz, speech at -27 to -32 dBFS: a phone's level).
    lines: Path = CALLER_LINES

    def slot(self, name: str) -> Slot:
        return self.asterisk.slots[name]

    async def call(self, slot: str, context: str, did: str = THAMES_DID, **kw) -> Phone:
        return await self.switchboard.call(self.nursery, self.slot(slot), context, did, **kw)

    @asynccontextmanager
    async def agent(self, slot: str, **env: str):
        """``voice-agent serve`` on the slot's ports with the offline stack."""
        ports = self.slot(slot)
        environment = {
            "VOICE_AGENT_OFFLINE": "1",
            "VOICE_AGENT_AGI_PORT": str(ports.agi_port),
            "VOICE_AGENT_REQUIRE_SETUP": "1",
            "VOICE_AGENT_COMPANIES": str(self.asterisk.root / "companies.json"),
            **env,
        }
        async with serve_process(["serve", "--port", str(ports.audio_port)], environment) as a:
            await a.wait_for(r"serving \(", timeout=60)
            try:
                yield a
            except BaseException:
                print(f"--- agent {slot} log\n" + "\n".join(a.lines))  # shown on failure
                raise

    def place(self, slot: str, context: str, did: str = THAMES_DID, **kw) -> str:
        """A call whose phone is not needed (it may never ring): returns its number."""
        return self.switchboard.place(self.slot(slot), context, did, **kw)

    async def finished(self, number: str, timeout: float = 30) -> None:
        """Until the PBX side of the call has run its dialplan to the end (pbx_spool
        runs it in the thread that logs "Call completed" afterwards)."""
        line = f"Call completed to Local/{number}@tier-phone"
        with trio.fail_after(timeout):
            while line not in self.asterisk.log_since(0):
                await trio.sleep(0.1)

    def reached(self) -> list[Path]:
        """The transfer target's marks: one file per call that reached it."""
        return sorted(self.asterisk.marks.glob("reached-*"))


@pytest.fixture
async def tier(asterisk, nursery):
    start = asterisk.log_size()
    switchboard = Switchboard(asterisk)
    await nursery.start(switchboard.run)
    t = Tier(asterisk, switchboard, nursery)
    yield t
    bad = asterisk.unexpected_warnings(start, t.allowed)
    assert not bad, "unexpected AudioSocket/AGI warnings:\n" + "\n".join(bad)


# Figures measured from the recordings, printed at the end of the run.
FIGURES: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("real Asterisk: measured from the phone's recordings")
        for line in FIGURES:
            terminalreporter.write_line(line)
