"""``voice-agent demo``: a whole booking call on this machine, no keys, no network.

The real AudioSocket server answers on a free loopback port with the offline
stack (Whisper tiny.en for speech, the rule-based booking policy as the model,
espeak-ng for the voice); the real caller dials it over TCP and plays one of
the scenarios of ``agent.demo.scenarios`` with recorded caller lines. As the call
goes, the transcript is printed live with, for each answer, the time from the
end of the caller's speech to the first agent audio the caller received. At
the end both legs and a stereo mix are saved as WAV files, and the exit status
says whether the call ended as the scenario expects (0: e.g. the booking is in
the booking store).
"""

from __future__ import annotations

import bisect
import json
import logging
import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TextIO

import attrs
import trio

from agent.base.config import ServerSettings
from agent.business.booking import BookingClient
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import EXAMPLE_COMPANIES, BookingApi, load_companies
from agent.business.outbox import Backoff, Outbox
from agent.business.outbox_delivery import run_outbox
from agent.conversation import TranscriptLine, conversation_brain_factory
from agent.conversation.toolrunner import BookingToolRunner
from agent.demo.booking_api import open_fake_booking
from agent.demo.readback import reply_to_agent
from agent.demo.scenarios import CallerLine, Scenario, caller_lines, caller_steps, scenario
from agent.demo.softphone import Caller, CallerParams, save_legs
from agent.media.server import serve_audiosocket
from agent.observe.callreport import percentile
from agent.providers.llm.offline_policy import OfflinePolicy

DEFAULT_COMPANIES = EXAMPLE_COMPANIES


@attrs.define
class DemoResult:
    scenario: Scenario
    ok: bool
    verdict: str
    answers_ms: list[float]  # end of caller speech -> first agent audio, per answer
    caller: Caller | None = None


class _Transcript:
    """Prints the call as it happens; measures each answer from the caller's side."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.caller: Caller | None = None
        self.answers_ms: list[float] = []
        self.agent_lines: list[str] = []  # what the agent said, in order
        self.answered = 0  # agent_lines already answered by the caller
        self._t0: float | None = None
        self._measured: set[int] = set()

    def line(self, call: object, line: TranscriptLine) -> None:
        if self._t0 is None:
            self._t0 = line.at
        at = line.at - self._t0
        note = ""
        if line.role == "agent" and not line.interrupted:  # a cut line was not heard out
            self.agent_lines.append(line.text)
        if line.role == "agent" and line.interrupted:
            note = "[interrupted] "  # cut by the caller: not an answer to time
        elif line.role == "agent":
            answered = self._answer_ms()
            if answered is not None:
                note = f"(answered in {answered:.0f} ms) "
        print(f"{at:7.1f} s  {line.role:<6} {note}{line.text}", file=self.out, flush=True)

    def _answer_ms(self) -> float | None:
        """The caller's last utterance end -> the first voiced agent frame after it."""
        caller = self.caller
        if caller is None or not caller.utterances:
            return None
        index = len(caller.utterances) - 1
        said = caller.utterances[index]
        if said.end_at is None or index in self._measured:
            return None
        voiced = [r.at for r in caller.received if r.voiced]
        after = voiced[bisect.bisect_left(voiced, said.end_at) :]
        if not after:
            return None
        self._measured.add(index)
        ms = (after[0] - said.end_at) * 1000
        self.answers_ms.append(ms)
        return ms


async def run_demo(
    s: Scenario,
    workdir: Path,
    *,
    out: TextIO | None = None,
    companies_path: Path = DEFAULT_COMPANIES,
) -> DemoResult:
    """Serve, call, and judge one scenario with the offline stack."""
    out = out if out is not None else sys.stdout  # looked up now, not at import
    from agent.providers.stt.whisper import WhisperStt
    from agent.providers.tts.espeak import EspeakTts

    companies = load_companies(str(companies_path))
    company = companies.get(companies.default_id)
    assert company is not None  # load_companies insists on a default
    workdir.mkdir(parents=True, exist_ok=True)
    db_path = workdir / "demo.sqlite3"
    for stale in workdir.glob("demo.sqlite3*"):
        stale.unlink()
    db = open_database(db_path)
    outbox = Outbox(db)
    transcript = _Transcript(out)
    brains: list = []
    start = s.start_epoch(company.timezone)

    async with trio.open_nursery() as nursery:
        client = None
        if s.booking_api_down:
            api = await nursery.start(_serve_fake_api, open_fake_booking)
            company = attrs.evolve(company, booking_api=BookingApi(api.base_url, "DEMO_KEY"))
            client = BookingClient(company.booking_api, env={"DEMO_KEY": "demo"})
            api.down()
        store = BookingStore(db, company)
        backend = store if client is None else LocalSlotsRemoteBookings(store, client)
        t0 = trio.current_time()

        def epoch() -> float:
            # The scenario's day and time (a Tuesday morning, or 2 a.m.), running on.
            return start + trio.current_time() - t0

        factory = conversation_brain_factory(
            stt=lambda call: WhisperStt(call.sample_rate),
            llm=lambda call: OfflinePolicy(company, call_uuid=str(call.uuid), clock=epoch),
            tts=lambda call: EspeakTts(call.sample_rate),
            tools=lambda call, co: BookingToolRunner(
                company, backend, outbox, None, str(call.uuid)
            ),
            companies=attrs.evolve(companies, companies=(company,), default_id=company.id),
            epoch=epoch,
            on_transcript=transcript.line,
        )

        def make(call):
            brain = factory(call)
            brains.append(brain)
            return brain

        warm = await WhisperStt(8000).warm_up()
        print(f"speech recognition ready ({warm:.1f} s)", file=out)
        settings = ServerSettings(port=0, brain="conversation")
        listeners = await nursery.start(serve_audiosocket, settings, make)
        port = listeners[0].socket.getsockname()[1]
        print(f"scenario {s.name}: {s.summary}", file=out)
        print(f"calling the agent on 127.0.0.1:{port} ...\n", file=out, flush=True)
        lines = caller_lines()  # read once: the caller's answers come from them
        caller = Caller(
            caller_steps(s),
            params=CallerParams(linger_s=20.0),
            answer=lambda: _answer_read_back(transcript, caller, lines),
        )
        transcript.caller = caller
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await caller.run(stream)
        if client is not None:
            await api.up()
            print("\nthe booking API is back; the outbox delivers the kept booking ...", file=out)
            nursery.start_soon(
                lambda: run_outbox(outbox, lambda cid: client, None, backoff=Backoff(initial=0.5))
            )
            with trio.move_on_after(30):
                for item in await outbox.items():
                    await outbox.wait_final(item.key)
        ok, verdict = await _judge(s, brains[0] if brains else None, store, outbox)
        nursery.cancel_scope.cancel()
    db.close()
    return DemoResult(s, ok, verdict, transcript.answers_ms, caller)


def _answer_read_back(
    transcript: _Transcript, caller: Caller, lines: dict[str, CallerLine]
) -> list:
    """Before each scripted step: the caller's answer to the agent's last line
    since the caller spoke, if it read a detail back or asked for a spelling
    ("yes", the correction, the spelling), as a person would."""
    from agent.base.wav import read_wav
    from agent.demo.softphone import Say

    texts = {name: line.text for name, line in lines.items()}
    by_text = {text: name for name, text in texts.items()}
    said = [by_text[u.label] for u in caller.utterances if u.label in by_text]
    new = transcript.agent_lines[transcript.answered :]
    transcript.answered = len(transcript.agent_lines)
    reply = reply_to_agent(new[-1], said, texts) if new else None
    if reply is None:
        return []
    return [Say(read_wav(lines[reply].path, 8000), label=lines[reply].text)]


async def _serve_fake_api(open_fake, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
    async with open_fake() as api:
        task_status.started(api)
        await trio.sleep_forever()


@attrs.define
class LocalSlotsRemoteBookings:
    """Slots from the local store's opening hours; bookings through the booking API."""

    store: BookingStore
    client: BookingClient

    async def availability(self, query):
        return await self.store.availability(query)

    async def book(self, body, key):
        return await self.client.book(body, key)

    async def amend(self, booking_id, changes, key):
        return await self.client.amend(booking_id, changes, key)


async def _judge(s: Scenario, brain, store: BookingStore, outbox: Outbox) -> tuple[bool, str]:
    if brain is None:
        return False, "the agent never answered"
    outcome = brain.outcome
    if outcome is None:
        return False, "the conversation did not end by itself"
    bookings = await store.bookings()
    kept = [i for i in await outbox.items() if i.kind == "booking"]
    if s.expect == "booked":
        if s.booking_api_down:
            confirmed = [i for i in kept if i.status == "confirmed"]
            if len(confirmed) == 1:
                return True, f"booked through the outbox: {confirmed[0].result.get('booking_id')}"
            return False, f"expected one booking delivered by the outbox, got {kept}"
        if len(bookings) == 1:
            row = bookings[0]
            address = json.loads(row["body"])["customer"]["address"]
            if s.address is not None and address != s.address:
                return False, f"booked, but at {address!r}, not {s.address!r}"
            day = datetime.fromtimestamp(row["start"], store.profile.timezone).strftime("%A")
            if s.weekday is not None and day != s.weekday:
                return False, f"booked, but on {day}, not {s.weekday}"
            on = f" on {day}" if s.weekday is not None else ""
            return True, f"booked: {row['booking_id']} ({row['service_id']}) at {address}{on}"
        return False, f"expected one booking, found {len(bookings)}"
    if bookings or kept:
        return False, f"expected no booking, found {len(bookings) + len(kept)}"
    if s.expect == "transfer":
        target = outcome.target.name if outcome.target else None
        if outcome.kind == "transfer" and target == s.transfer_target:
            return True, f"transferred to {target} ({outcome.target.dial})"
        return False, f"expected a transfer to {s.transfer_target}, got {outcome}"
    if s.expect == "silence":
        ok = outcome.kind == "end" and outcome.reason == "silence"
        return ok, f"ended: {outcome.reason}"
    ok = outcome.kind == "end"
    return ok, f"declined politely, ended: {outcome.reason or outcome.kind}"


def print_summary(result: DemoResult, workdir: Path, out: TextIO | None = None) -> None:
    out = out if out is not None else sys.stdout  # looked up now, not at import

    answers = result.answers_ms
    print("", file=out)
    if answers:
        print(
            f"answers: {len(answers)}, end of caller speech -> first agent audio:"
            f" p50 {percentile(answers, 50):.0f} ms, max {max(answers):.0f} ms",
            file=out,
        )
    if result.caller is not None:
        print(result.caller.report().format(), file=out)
    print(f"\n{'OK' if result.ok else 'FAILED'}: {result.verdict}", file=out)


def run(name: str, workdir: Path | None = None) -> int:

    s = scenario(name)
    quiet = logging.getLogger().level > logging.DEBUG  # keep the transcript readable
    noisy = [logging.getLogger(n) for n in ("agent", "faster_whisper")]
    levels = [logger.level for logger in noisy]
    if quiet:
        for logger in noisy:
            logger.setLevel(logging.WARNING)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="voice-agent-demo-"))
    try:
        result = trio.run(run_demo, s, workdir)
    finally:
        for logger, level in zip(noisy, levels, strict=True):
            logger.setLevel(level)
    print_summary(result, workdir)
    if result.caller is not None:
        for path in save_legs(result.caller, workdir, 8000):
            print(f"wrote {path}")
    return 0 if result.ok else 1
