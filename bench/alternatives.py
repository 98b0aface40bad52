"""Issue 16: the recogniser's alternatives consulted before asking again.

    python bench/alternatives.py [--voices flite:rms,festival:ked_diphone] [--json P]

Every line of the caller corpus (``bench/caller_scripts.py``) that gives a postcode
or a phone number is spoken by the corpus' voices (cached WAVs, 8 kHz) and decoded
once by ``WhisperStt.recognise`` as faster-whisper alone would (no alternatives),
once with the beam's alternatives; the CPU time of each is kept. Each transcript
then goes through the turn-taker's marking (``HeardTurn.said``) to the booking
workflow at the question for that detail (the offline policy's path), and what the
workflow does with it is judged against the script: the value taken or read back
("Was that ...?") is RIGHT or WRONG, or there is none (asked again). Nothing here
asserts; needs the offline extra and the voices' programs (flite, festival).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from caller_corpus import DEFAULT_VOICES, synthesise
from caller_scripts import CALLERS, Line

from agent.base.events import Transcript
from agent.base.wav import read_wav
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.business.ukformats import find_phone, find_postcode
from agent.dialogue.doubt import split_unsure
from agent.dialogue.normalise import normalise
from agent.dialogue.tools import ToolResult
from agent.dialogue.turntaking_endofturn import HeardTurn
from agent.dialogue.turntaking_params import TurnTakingParams
from agent.dialogue.workflow import BookingWorkflow, CallTool
from agent.providers.stt.whisper import WhisperStt, default_model_path, load_model

RATE = 8000
NOW = 1_747_126_800.0  # a Tuesday at ten, London: the corpus' company is open
PARAMS = TurnTakingParams()
BEFORE = {
    "postcode": ("My kitchen sink is leaking.", "Yes please.", "Raj Patel.", "22 Baker Street.")
}
BEFORE["phone"] = (*BEFORE["postcode"], "SW1A 1AA.")


class Transcriber:
    """The model with only ``transcribe`` showing: decoded as faster-whisper alone would."""

    def __init__(self, model: Any) -> None:
        self.transcribe = model.transcribe


def detail_lines() -> list[tuple[str, str, str]]:
    """(line, detail, expected value) for each distinct corpus line giving one."""
    rows: dict[str, tuple[str, str, str]] = {}
    for spec in CALLERS:
        for step in spec.steps:
            if not isinstance(step, Line) or step.text in rows:
                continue
            postcode, phone = find_postcode(step.text), find_phone(normalise(step.text))
            if postcode is not None:
                rows[step.text] = (step.text, "postcode", str(postcode))
            elif phone is not None:
                rows[step.text] = (step.text, "phone", phone)
    return list(rows.values())


def answer(call: CallTool) -> ToolResult:
    if call.name == "get_quote":
        return ToolResult(call.name, "ok", {"amount": 85})
    slot = {"start": "2025-05-14T09:00:00+01:00", "end": "2025-05-14T11:00:00+01:00"}
    return ToolResult(call.name, "ok", {"slots": [slot]})


def run(wf: BookingWorkflow, actions: tuple[Any, ...]) -> None:
    pending = list(actions)
    while pending:
        action = pending.pop(0)
        if isinstance(action, CallTool):
            pending.extend(wf.handle(answer(action), NOW))


def outcome(company: Any, detail: str, heard: Transcript) -> tuple[str | None, bool]:
    """The value the workflow takes or reads back for ``heard`` at the question for
    ``detail`` (``None`` when it asks again), and whether it was read back."""
    wf = BookingWorkflow(company, "bench", NOW)
    run(wf, wf.start(NOW))
    for line in BEFORE[detail]:
        run(wf, wf.hear(line, NOW))
    assert wf.expecting == detail, (detail, wf.expecting)
    turn = HeardTurn()
    turn.hear(heard, 0.0)
    text, unsure = split_unsure(turn.said(PARAMS.fair_word_confidence))
    if heard.confidence < PARAMS.min_confidence:
        unsure = True  # marked so by the turn-taker (``confirm_unsure``)
    run(wf, wf.hear(text, NOW, confidence=0.0 if unsure else 1.0))
    if getattr(wf.data, detail) is not None:
        return getattr(wf.data, detail), False
    doubt = wf.data.doubt
    return (doubt[1], True) if doubt is not None and doubt[0] == detail else (None, False)


def judge(value: tuple[str | None, bool], expected: str) -> str:
    """right, wrong (read back: the caller says no), WRONG (taken as heard), or none."""
    if value[0] is None:
        return "none"
    if value[0] == expected:
        return "right"
    return "wrong" if value[1] else "WRONG"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", default=",".join(DEFAULT_VOICES))
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    company = parse_directory(json.loads(EXAMPLE_COMPANIES.read_text())).companies[0]
    model = load_model(default_model_path())
    stt = WhisperStt(RATE)
    quiet = bytes(int(0.3 * RATE) * 2)  # the pre-roll and hangover a call would give
    lines = detail_lines()
    rows: list[dict[str, Any]] = []
    for voice in args.voices.split(","):
        for text, detail, expected in lines:
            pcm = quiet + read_wav(synthesise(voice, text), RATE) + quiet
            cpu = time.process_time()
            plain = stt.recognise(Transcriber(model), pcm)
            cpu_plain, cpu = time.process_time() - cpu, time.process_time()
            heard = stt.recognise(model, pcm)
            cpu_alternatives = time.process_time() - cpu
            top = Transcript(plain.text, is_final=True, confidence=plain.confidence)
            both = Transcript(
                heard.text,
                is_final=True,
                confidence=heard.confidence,
                alternatives=heard.alternatives,
            )
            alone, helped = outcome(company, detail, top), outcome(company, detail, both)
            rows.append(
                {
                    "voice": voice,
                    "line": text,
                    "detail": detail,
                    "expected": expected,
                    "heard": heard.text,
                    "same_top": (plain.text, plain.confidence, plain.words)
                    == (heard.text, heard.confidence, heard.words),
                    "alternatives": list(heard.alternatives),
                    "top_alone": alone,
                    "with_alternatives": helped,
                    "cpu_plain_s": cpu_plain,
                    "cpu_alternatives_s": cpu_alternatives,
                    "audio_s": len(pcm) / 2 / RATE,
                }
            )
            mark = "" if judge(alone, expected) == judge(helped, expected) else "  <- changed"
            print(
                f"{voice:22} {detail:8} {expected:14} top {judge(alone, expected):5}"
                f" alt {judge(helped, expected):5} {heard.text[:44]!r}{mark}",
                flush=True,
            )
    report(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


def report(rows: list[dict[str, Any]]) -> None:
    print()
    print("right: the expected value taken or read back; wrong: another read back (the")
    print("caller says no); WRONG: another taken as heard; none: asked again.")
    print(f"{'voice':22} {'detail':8} {'lines':>5}   top alone: right wrong WRONG  none"
          "   with alternatives: right wrong WRONG  none")  # fmt: skip
    groups = sorted({(r["voice"], r["detail"]) for r in rows})
    for voice, detail in [*groups, ("all", "all")]:
        chosen = [
            r for r in rows if voice in ("all", r["voice"]) and detail in ("all", r["detail"])
        ]
        alone = Counter(judge(r["top_alone"], r["expected"]) for r in chosen)
        helped = Counter(judge(r["with_alternatives"], r["expected"]) for r in chosen)
        kinds = ("right", "wrong", "WRONG", "none")
        counts = [f"{c[k]:5}" for c in (alone, helped) for k in kinds]
        print(
            f"{voice:22} {detail:8} {len(chosen):5}   {'':10} {' '.join(counts[:4])}"
            f"   {'':19} {' '.join(counts[4:])}"
        )
    plain = sum(r["cpu_plain_s"] for r in rows)
    nbest = sum(r["cpu_alternatives_s"] for r in rows)
    audio = sum(r["audio_s"] for r in rows)
    same = sum(r["same_top"] for r in rows)
    print(
        f"\nCPU per utterance (mean of {len(rows)}, {audio / len(rows):.1f} s of audio each):"
        f" {plain / len(rows):.3f} s without alternatives, {nbest / len(rows):.3f} s with"
        f" ({(nbest / plain - 1) * 100:+.1f} %); the same best transcript, confidence and"
        f" words on {same}/{len(rows)} lines"
    )


if __name__ == "__main__":
    raise SystemExit(main())
