"""The caller corpus: scripted callers in synthetic voices through the real server.

Every caller of ``bench/caller_scripts.py`` (44: details out of order,
corrections, keypad, off-script questions, a person mid-booking, interruptions,
silence, out-of-area, emergencies) is spoken in each voice, dialled over TCP
with the real softphone into the real AudioSocket server running the offline
stack (Whisper tiny.en, the booking policy, espeak-ng for the agent), and
judged by what the call ended in and what the booking record holds.

    nice python bench/caller_corpus.py                         # both default voices
    nice python bench/caller_corpus.py --voices festival:kal_diphone --only plain,gas
    nice python bench/caller_corpus.py --parallel 3 --json corpus.json

Voices (none is the fixtures' CMU SLT): ``festival:<voice>`` (Festival's
``text2wave``, e.g. ``kal_diphone``, ``ked_diphone``) and ``espeak:<voice>``
(the ``espeak-ng`` program, e.g. ``en-gb-scotland+m3``, ``en-us+f2``). Prints,
per voice: outcome accuracy (calls that ended as expected), slot accuracy
(expected name, address, postcode and phone found in the booking record) and
the recogniser's word error rate over the caller's lines; then every miss.

Slow (each call runs in real time; several at once with ``--parallel``): run
it niced, in the background, never in the default test suite.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent))

from caller_judge import Result, judge, report
from caller_person import REPLIES, Person, house_number, spelled, street_name
from caller_scripts import CALLERS, Keys, Line, Pause, Spec

from agent.base.config import ServerSettings
from agent.base.wav import read_wav
from agent.business.bookingstore import BookingStore, open_database
from agent.business.company import EXAMPLE_COMPANIES, load_companies
from agent.business.outbox import Outbox
from agent.demo.softphone import Caller, CallerParams, PressKeys, Say, Silence, WaitAgent
from agent.dialogue.turntaking_params import TurnTakingParams

DEFAULT_VOICES = ("flite:rms", "festival:ked_diphone")
# The corpus judges what the agent understood, not how fast: on a shared, loaded box
# a niced recogniser can take many seconds per line, so it gets a minute, the caller
# waits as long for an answer, and silence is "are you still there?" only after 15 s.
PATIENT_S = 60.0
PATIENT_TURNS = TurnTakingParams(reprompt_after_s=15.0, stt_eot_timeout_s=PATIENT_S)
CACHE = Path(tempfile.gettempdir()) / "voice-agent-caller-corpus"
SLOT_FIELDS = ("name", "address", "postcode", "phone")


# --- voices ---------------------------------------------------------------------------


def synthesise(voice: str, text: str) -> Path:
    """A WAV of ``text`` in ``voice`` (cached by voice and text)."""
    kind, _, name = voice.partition(":")
    digest = hashlib.sha1(f"{voice}\n{text}".encode()).hexdigest()[:16]
    path = CACHE / f"{digest}.wav"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    if kind == "festival":
        source = CACHE / f"{digest}.txt"
        source.write_text(text)
        command = ["text2wave", "-eval", f"(voice_{name})", "-o", str(path), str(source)]
    elif kind == "flite":
        command = ["flite", "-voice", name, "-t", text, "-o", str(path)]
    elif kind == "espeak":
        command = ["espeak-ng", "-v", name, "-s", "150", "-w", str(path), text]
    else:
        raise SystemExit(f"unknown voice {voice!r}: use festival:, flite: or espeak:<voice>")
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"voice {voice!r}: {command[0]} failed: {exc}") from None
    return path


def steps_for(spec: Spec, voice: str) -> list:
    steps: list = []
    for step in spec.steps:
        if isinstance(step, Line):
            pcm = read_wav(synthesise(voice, step.text), 8000)
            steps.append(Say(pcm, label=step.text, interrupt_after_ms=step.interrupt_ms))
        elif isinstance(step, Keys):
            steps.append(PressKeys(step.digits, gap_ms=150))
        else:
            assert isinstance(step, Pause)
            steps.append(Silence(step.seconds))
    steps.append(WaitAgent(timeout_s=15.0))
    return steps


# --- running ------------------------------------------------------------------------------


async def run_corpus(
    specs: list[Spec],
    voices: list[str],
    parallel: int,
    workdir: Path,
    scripts: dict,
    replies: dict,
    on_result=None,
):
    from agent.conversation import conversation_brain_factory
    from agent.conversation.toolrunner import BookingToolRunner
    from agent.media import call as media_call
    from agent.media.server import serve_audiosocket
    from agent.providers import background
    from agent.providers.llm.offline_policy import OfflinePolicy
    from agent.providers.stt.whisper import WhisperStt
    from agent.providers.tts.espeak import EspeakTts

    companies = load_companies(EXAMPLE_COMPANIES)
    company = companies.get(companies.default_id or "")
    assert company is not None
    tz = ZoneInfo(company.timezone.key)
    day = datetime(2030, 7, 2, tzinfo=tz) + timedelta(hours=10)  # a Tuesday at ten
    calls: dict[str, dict] = {}  # call uuid -> its brain, store, transcript

    def make(call):
        entry = calls.setdefault(str(call.uuid), {"heard": []})
        t0 = trio.current_time()

        def epoch() -> float:
            return day.timestamp() + trio.current_time() - t0

        db = open_database(workdir / f"{call.uuid}.sqlite3")
        store = BookingStore(db, company)
        entry.update(store=store, db=db)
        factory = conversation_brain_factory(
            stt=lambda c: WhisperStt(c.sample_rate, transcribe_timeout_s=PATIENT_S),
            llm=lambda c: OfflinePolicy(company, call_uuid=str(c.uuid), clock=epoch),
            tts=lambda c: EspeakTts(c.sample_rate),
            tools=lambda c, co: BookingToolRunner(company, store, Outbox(db), None, str(c.uuid)),
            companies=companies,
            epoch=epoch,
            turn_taking=PATIENT_TURNS,
            on_transcript=lambda c, line: entry[
                "heard" if line.role == "caller" else "agent"
            ].append(line.text),
        )
        entry["brain"] = brain = factory(call)
        return brain

    # The softphones share this process with the server and the recogniser: on a loaded
    # box the whole process stalls now and then, and the server's 1 s send-stall watchdog
    # would end the call for it (a peer that stopped reading). Not what is judged here.
    media_call.SEND_STALL_S = PATIENT_S
    # The recogniser's threads lower their priority to nice 10 so that a busy decode
    # never delays a call's frames; here what is judged is what was understood, and
    # at nice 10 on a shared box the decodes queue behind other jobs for minutes (the
    # utterances are given up, the calls end in silence). They keep the run's priority.
    background.lower_thread_priority = lambda nice=0: False
    await WhisperStt(8000).warm_up()
    results: list[Result] = []
    limit = trio.CapacityLimiter(parallel)
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            serve_audiosocket,
            ServerSettings(port=0, brain="conversation", idle_timeout_s=PATIENT_S),
            make,
        )
        port = listeners[0].socket.getsockname()[1]

        async def one(spec: Spec, voice: str) -> None:
            async with limit:
                started = time.perf_counter()
                steps = scripts[spec.name, voice]
                # A person answers every question put to them (no, the line again, a
                # spelling, a yes, the first name...): six answers before the next
                # scripted line, not the softphone's four. The person's own limits
                # (each way once, a line said again twice) keep it from looping.
                params = CallerParams(linger_s=20.0, agent_timeout_s=PATIENT_S, max_answers=6)
                caller = Caller(steps, params=params)
                calls[str(caller.uuid)] = {"heard": [], "agent": []}
                if spec.react:
                    caller.answer = Person(spec, caller, calls[str(caller.uuid)], replies[voice])
                stream = await trio.open_tcp_stream("127.0.0.1", port)
                await caller.run(stream)
                await trio.sleep(1.0)  # the outcome is recorded as the call closes
                entry = calls[str(caller.uuid)]
                store = entry.get("store")
                bookings = await store.bookings() if store is not None else []
                said = [u.label for u in caller.utterances]
                result = judge(spec, voice, entry.get("brain"), bookings, entry["heard"], said)
                result.seconds = time.perf_counter() - started
                if "db" in entry:
                    entry["db"].close()
                results.append(result)
                mark = "ok  " if result.ok else "MISS"
                print(
                    f"{mark} {voice:<28} {spec.name:<26} {result.outcome:<26}"
                    f" slots {result.slots_right}/{len(spec.slots)}"
                    f" wer {result.word_errors}/{result.ref_words} ({result.seconds:.0f} s)",
                    flush=True,
                )
                if not result.ok or result.slots_wrong:
                    print(f"     heard: {' | '.join(result.heard)}", flush=True)
                    print(f"     agent: {' | '.join(entry.get('agent', []))}", flush=True)
                if on_result is not None:
                    on_result(results)

        async with trio.open_nursery() as callers:
            for spec in specs:  # caller by caller, every voice: partial runs stay comparable
                for voice in voices:
                    callers.start_soon(one, spec, voice)
                    await trio.sleep(0)  # started (and queued for the limiter) in this order
        nursery.cancel_scope.cancel()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default=",".join(DEFAULT_VOICES))
    parser.add_argument("--only", help="comma-separated caller names")
    parser.add_argument("--parallel", type=int, default=3, help="calls at once")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    specs = list(CALLERS)
    if args.only:
        wanted = set(args.only.split(","))
        specs = [s for s in specs if s.name in wanted]
        if missing := wanted - {s.name for s in specs}:
            raise SystemExit(f"no such callers: {', '.join(sorted(missing))}")
    voices = [v.strip() for v in args.voices.split(",") if v.strip()]
    for voice in voices:  # fail early, before the calls, on a voice that cannot speak
        synthesise(voice, "Hello.")
    # Every line is synthesised before the first call: a TTS program run inside the
    # loop would stall the server's playout (and its send watchdog ends such calls).
    scripts = {(spec.name, voice): steps_for(spec, voice) for voice in voices for spec in specs}
    replies: dict[str, dict[str, Say]] = {}
    for voice in voices:
        texts = dict(REPLIES)
        for spec in specs:  # each caller's postcode spelled, for "letter by letter"
            if postcode := spec.slots.get("postcode") or next(iter(spec.confirms), ""):
                texts[spec.name] = spelled(postcode)
            if address := spec.slots.get("address"):  # and the street's name, when asked
                texts[f"{spec.name}/street"] = spelled(street_name(address))
                if number := house_number(address):  # and the house number alone
                    texts[f"{spec.name}/number"] = f"Number {number}."
            if name := spec.slots.get("name"):  # and the surname; the first name alone
                texts[f"{spec.name}/surname"] = spelled(name.split()[-1])
                texts[f"{spec.name}/first"] = f"{name.split()[0]}."
        replies[voice] = {
            key: Say(read_wav(synthesise(voice, text), 8000), label=text)
            for key, text in texts.items()
        }
    workdir = Path(tempfile.mkdtemp(prefix="caller-corpus-"))

    def save(results: list[Result]) -> None:  # after every call: a stopped run keeps its part
        if not args.json:
            return
        calls = [
            {
                "caller": r.spec.name,
                "voice": r.voice,
                "expected": r.spec.expect,
                "outcome": r.outcome,
                "slots_wrong": r.slots_wrong,
                "heard": r.heard,
                "word_errors": r.word_errors,
                "ref_words": r.ref_words,
            }
            for r in results
        ]
        figures = report(results, voices, quiet=True)
        Path(args.json).write_text(json.dumps({"voices": figures, "calls": calls}, indent=2))

    results = trio.run(
        run_corpus, specs, voices, max(1, args.parallel), workdir, scripts, replies, save
    )
    report(results, voices)
    save(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
