"""The tier's phone: calls placed with call files, each phone half driven by the
test over FastAGI (``[tier-phone]`` hands the channel to us), recorded by MixMonitor.

A test says what the caller does (``say``, ``keys``, ``wait_agent_turn``, ``wait``,
``hang_up``) and afterwards reads the two recordings (``Recording``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from pathlib import Path

import attrs
import trio

from agent.pbx.fastagi import AgiSession, AgiSessionError
from agent.wire import agi
from tests.pbx.asterisk.sound import Recording
from tests.pbx.asterisk.tier import Asterisk, Slot

CALLER_ID = "07700900123"
_numbers = itertools.count(7001)


class Gone(Exception):
    """The phone's channel hung up (the other side ended the call)."""


@attrs.frozen
class Said:
    line: str
    start: float  # seconds into the recording
    end: float


class Phone:
    def __init__(self, number: str, session: AgiSession, folder: Path, released: trio.Event):
        self.number = number  # the phone's extension in [tier-phone]
        self.session = session
        self.released = released  # set: the AGI session ends, the phone channel goes
        self.folder = folder
        self.t0 = 0.0  # trio time when the recording started
        self.said: list[Said] = []
        self.gone = False
        self._recording: Recording | None = None

    def now(self) -> float:
        """Seconds into the recording."""
        return trio.current_time() - self.t0

    async def app(self, name: str, options: str = "") -> int:
        if self.gone:
            raise Gone(name)
        try:
            reply = await self.session.command(agi.exec_app(name, options))
        except AgiSessionError as exc:
            self.gone = True
            raise Gone(name) from exc
        if not reply.ok or reply.result is None or reply.result < 0 or self.session.hung_up:
            self.gone = True
            raise Gone(name)
        return reply.result

    async def variable(self, name: str) -> str:
        reply = await self.session.command(agi.get_variable(name))
        return reply.data or ""

    async def record(self) -> None:
        f = self.folder
        await self.app(
            "MixMonitor", f"{f}/mix.wav,r({f}/heard.wav)t({f}/spoken.wav),touch {f}/done"
        )
        self.t0 = trio.current_time()

    async def quiet(self) -> None:
        """Send silence frames, like a real phone, until the next Playback or
        SendDTMF: WaitForNoise/WaitForSilence send nothing, and an agent that
        gets no frames cannot tell that the caller has stopped talking."""
        await self.app("Playtones", "0")

    async def wait_agent_speaking(self, timeout: float = 30, noise_ms: int = 60) -> None:
        await self.quiet()
        await self.app("WaitForNoise", f"{noise_ms},1,{timeout:g}")
        if await self.variable("WAITSTATUS") != "NOISE":
            raise AssertionError(f"the agent said nothing within {timeout} s")

    async def wait_agent_turn(self, timeout: float = 30, quiet_ms: int = 1500) -> None:
        """Until the agent has spoken and then been quiet for ``quiet_ms``."""
        await self.wait_agent_speaking(timeout)
        await self.app("WaitForSilence", f"{quiet_ms},1,{timeout:g}")
        if await self.variable("WAITSTATUS") != "SILENCE":
            raise AssertionError(f"the agent did not stop talking within {timeout} s")

    async def say(self, lines: Path, line: str) -> Said:
        await self.app("StopPlaytones")
        start = self.now()
        await self.app("Playback", str(lines / line))
        said = Said(line, start, self.now())
        self.said.append(said)
        await self.quiet()
        return said

    async def keys(self, digits: str) -> None:
        await self.app("StopPlaytones")
        await self.app("SendDTMF", f"{digits},250")
        await self.quiet()

    async def wait(self, seconds: float) -> None:
        await self.app("Wait", f"{seconds:g}")

    async def wait_gone(self, timeout: float = 30) -> None:
        """Until the other side hangs up; fails if it does not within ``timeout``."""
        try:
            await self.app("Wait", f"{timeout:g}")
        except Gone:
            return
        raise AssertionError(f"the call was still up after {timeout} s")

    async def hang_up(self) -> None:
        if not self.gone:
            self.gone = True
            with contextlib.suppress(AgiSessionError):
                await self.session.command(agi.hangup())
        self.released.set()  # the channel goes (and the call with it) once AGI ends

    async def recording(self, timeout: float = 15) -> Recording:
        """The two legs, once MixMonitor has closed the files."""
        if self._recording is None:
            self.released.set()  # a hung-up channel lives until its AGI session ends
            with trio.fail_after(timeout):
                while not (self.folder / "done").exists():
                    await trio.sleep(0.05)
            self._recording = Recording.load(self.folder)
        return self._recording


class Switchboard:
    """The phones' FastAGI server: each call's ``[tier-phone]`` half connects with
    its number as the script name and is handed to the test that placed it."""

    def __init__(self, asterisk: Asterisk) -> None:
        self.asterisk = asterisk
        self._waiting: dict[str, trio.MemorySendChannel] = {}

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.asterisk.phone_port, host="127.0.0.1")
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        session = AgiSession(stream, read_timeout_s=90)
        env = await session.read_environment()
        sender = self._waiting.pop(env.network_script, None)
        if sender is None:
            return
        done = trio.Event()
        await sender.send((session, done))
        await done.wait()  # the session lives as long as the test uses it
        await stream.aclose()

    def place(
        self, slot: Slot, context: str, did: str, caller_id: str = CALLER_ID, number: str = ""
    ) -> str:
        """A call file: a new phone dials ``did`` in the slot's copy of ``context``.
        Returns the phone's number (its extension in [tier-phone])."""
        number = number or str(next(_numbers))
        spec = (
            f"Channel: Local/{number}@tier-phone\n"
            f'CallerID: "Tier Caller" <{caller_id}>\n'
            f"Context: {slot.context(context)}\nExtension: {did}\nPriority: 1\n"
        )
        staged = self.asterisk.root / "calls" / f"{number}.call"
        staged.write_text(spec)
        os.replace(staged, self.asterisk.outgoing / f"{number}.call")  # atomic: dialled at once
        return number

    async def call(
        self, nursery: trio.Nursery, slot: Slot, context: str, did: str, **kw: str
    ) -> Phone:
        """Place a call and take its phone once it rings; it records from then on."""
        send, receive = trio.open_memory_channel(1)
        session = done = None
        number = str(next(_numbers))
        self._waiting[number] = send
        self.place(slot, context, did, number=number, **kw)
        folder = self.asterisk.root / "calls" / number
        folder.mkdir(parents=True)
        with trio.move_on_after(15):
            session, done = await receive.receive()
        if session is None:
            raise AssertionError(f"call {number}: the phone never rang\n{self.asterisk.tail()}")
        phone = Phone(number, session, folder, done)
        nursery.start_soon(_release, done)
        await phone.record()
        return phone


async def _release(done: trio.Event) -> None:
    # Keeps the AGI session (and so the phone's channel) until the test is done with it.
    try:
        await done.wait()
    finally:
        done.set()
