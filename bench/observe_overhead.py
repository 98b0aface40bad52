"""What observation costs a call: per 20 ms frame, per final transcript, per turn.

    python bench/observe_overhead.py [--repeat N]

- the playout's per-frame hook: the bare VAD echo-guard call the call used to
  make, against ``Call._frame_sent`` (echo guard + last-agent-frame tracking),
  and the recorder's two per-frame appends when recording is on;
- ``CallObserver.stt_event`` on a final transcript (the search for a name,
  number and postcode to hide from the logs, and their registration while 200
  other calls hold theirs);
- ``CallObserver.turn_ended`` (the turn row is posted to the writer thread and
  the metrics observed);
- the redaction of one log line while 200 calls hold personal details.

Medians of ``--repeat`` timeit runs; nothing here asserts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import timeit
from pathlib import Path
from types import SimpleNamespace

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agent.base.events import Transcript
from agent.base.logs import PHONE, POSTCODE, forget_values, redact_values
from agent.conversation.protocols import TurnTimes
from agent.media.recording import CallRecorder, RecordingWriter


def median_ns(fn, number: int, repeat: int) -> float:
    runs = timeit.repeat(fn, number=number, repeat=repeat)
    return statistics.median(runs) / number * 1e9


def frame_hooks(repeat: int, tmp: Path) -> list[tuple[str, float]]:
    from agent.base.config import ServerSettings
    from agent.media.call import Call

    call = Call(SimpleNamespace(), ServerSettings(), lambda call: None)  # no I/O needed
    frame = bytes(range(160)) * 2
    call.playout.speech_frames = 1
    call.playout.last_send_at = 1.0
    note_output = call.vad.note_output
    rows = [
        ("VAD echo guard alone (before)", median_ns(lambda: note_output(frame), 20000, repeat)),
        ("Call._frame_sent (after)", median_ns(lambda: call._frame_sent(frame), 20000, repeat)),
    ]
    writer = RecordingWriter()
    recorder = CallRecorder(tmp / "bench.wav", 8000, writer, start=0.0)
    clock = [0.0]

    def both_legs() -> None:
        clock[0] += 0.02
        recorder.caller(frame, clock[0])
        recorder.agent(frame, clock[0])

    rows.append(("recorder, both legs of a frame", median_ns(both_legs, 5000, repeat)))
    recorder.close()
    writer.close()
    return rows


def observer_hooks(repeat: int, tmp: Path) -> list[tuple[str, float]]:
    from agent.observe.call_observer import CallObserver
    from agent.observe.records import RecordStore

    store = RecordStore.open_sqlite(tmp / "bench.db")
    obs = SimpleNamespace(
        store=store,
        metrics=__import__("agent.observe.metrics", fromlist=["Metrics"]).Metrics(),
        clock=lambda: 0.0,
        count_active_calls=False,
        prices=None,
    )
    call = SimpleNamespace(uuid="bench", started_at=0.0, last_agent_frame_at=None)
    store.post_start_call("bench", started_at=0.0)  # the turn rows refer to it
    rows = []

    async def main() -> None:
        observer = CallObserver(obs, call, did=None, caller_id=None)
        # 200 other calls in progress each hide a name, a number and a postcode;
        # this call's details are new each time (then forgotten, as at its end).
        first = ("Sarah", "John", "Priya", "Tom", "Aisha", "Liam", "Mei", "Olu", "Kasia", "Dev")
        last = ("Connor", "Smith", "Patel", "Jones", "Khan", "Murphy", "Chen", "Rao", "Nowak")
        for n in range(200):
            redact_values(f"other-{n}", [f"{first[n % 10]} {last[n % 9]}"])
            redact_values(f"other-{n}", [f"0770090{n:04}", f"{n:03}"], marker=PHONE)
            redact_values(f"other-{n}", [f"SW{n % 9 + 1}A 1AA"], marker=POSTCODE)
        personal = Transcript("my name is Sarah Connor and it's 07700 900 123", True)
        plain = Transcript("my boiler is making a funny noise", True)

        def search(transcript: Transcript) -> None:
            observer.stt_event(transcript, 1.0)
            observer._last_searched = ""
            forget_values(observer.uuid)

        rows.append(
            (
                "stt_event, final with personal details",
                median_ns(lambda: search(personal), 200, repeat),
            )
        )
        rows.append(("stt_event, final without", median_ns(lambda: search(plain), 200, repeat)))
        utterance = SimpleNamespace(first_frame_at=5.0, last_frame_at=7.0)
        times = TurnTimes(1.0, 1.0, 1.0, 1.1, 1.2, 1.3)
        turn = SimpleNamespace(
            turn_id=1,
            times=times,
            utterance=utterance,
            user_text="hello",
            canned=None,
            interrupted=False,
            discarded=False,
            sent_text="Hi there.",
            llm_input_tokens=10,
            llm_output_tokens=5,
            heard_text=lambda: "Hi there.",
        )
        rows.append(
            (
                "turn_ended (row posted, metrics)",
                median_ns(lambda: observer.turn_ended(turn), 200, repeat),
            )
        )

    trio.run(main)
    store.close()
    return rows


def log_lines(repeat: int) -> list[tuple[str, float]]:
    from agent.base.logs import call_log_context, redact

    # (the 200 calls registered by observer_hooks are still live)
    line = "turn 3: caller 'my boiler is making a funny noise' -> agent 'Sorry to hear that.'"
    with call_log_context("other-7"):
        inside = median_ns(lambda: redact(line), 2000, repeat)
    outside = median_ns(lambda: redact(line), 2000, repeat)
    return [
        ("redact a log line in a call (200 live)", inside),
        ("redact a log line outside calls (200 live)", outside),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = frame_hooks(args.repeat, Path(tmp)) + observer_hooks(args.repeat, Path(tmp))
        rows += log_lines(args.repeat)
    width = max(len(name) for name, _ in rows)
    print(f"{'':<{width}}  median")
    for name, ns in rows:
        figure = f"{ns:,.0f} ns" if ns < 10_000 else f"{ns / 1000:,.1f} us"
        print(f"{name:<{width}}  {figure:>10}")


if __name__ == "__main__":
    main()
