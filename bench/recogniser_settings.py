"""Decoding settings A/B for bench/recogniser_wer.py (``--settings``): each line is
decoded with every setting in turn (so a busy box slows them alike), and each
setting's word error rate, entities read right and decode time are printed.

Entities: postcodes and phone numbers (after ``agent.dialogue.normalise``, as the
policy reads them), streets ("41 Kennington Road": the number and the street's words
in order) and names after "name is" / "It's" in the reference.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable

import attrs
import numpy as np

from agent.business.ukformats import find_phone, find_postcode
from agent.demo.wer import normalise as wer_words
from agent.demo.wer import word_error_rate
from agent.dialogue.normalise import normalise
from agent.providers.stt.whisper import WhisperStt
from agent.providers.stt.whisper_decode import DecodeOptions

RATE = 8000
# Lines with details as callers give them, none of them the corpus' own (its
# callers' streets, names and numbers): the same for every setting and voice.
DETAIL_LINES = (
    "The address is 64 Albert Road.",
    "I'm at 118 Queens Avenue.",
    "It's 5 Oak Tree Close, near the school.",
    "Flat 2, 37 Beech Street.",
    "My name is Rachel Green.",
    "My name is Thomas Hughes.",
    "It's Priya Shah.",
    "You can reach me on 07700 900318.",
    "My mobile is 07911 123456.",
    "The number is 020 7946 0123.",
    "The postcode is N1 9GU.",
    "It's SE15 4QR.",
    "Postcode E2 8DY.",
    "I live at 12 Mortimer Street, W1T 3JH.",
    "We're at 9 Grove Lane and my number is 07700 900871.",
    "Can someone come to 81 Cedar Road on Thursday morning?",
)
_STREET = re.compile(
    r"\b\d+ (?:[A-Z][a-z]+ )*?(?:[A-Z][a-z]+ )"
    r"(?:Road|Street|Lane|Avenue|Close|Grove|Way|Drive|Place|Crescent|Gardens|Terrace)\b"
)
_NAME = re.compile(r"(?:[Nn]ame is|^It's) ([A-Z][a-z]+(?: [A-Z][a-z']+)+)\b")

_GREEDY = DecodeOptions(beam_size=1)  # the default before this comparison
SETTINGS: dict[str, tuple[DecodeOptions, bool]] = {  # options, with the company prompt
    "base": (_GREEDY, False),
    "beam5": (attrs.evolve(_GREEDY, beam_size=5), False),
    "timestamps": (attrs.evolve(_GREEDY, without_timestamps=False), False),
    "condprev": (attrs.evolve(_GREEDY, condition_on_previous_text=True), False),
    "prompt": (_GREEDY, True),
    "emph": (attrs.evolve(_GREEDY, pre_emphasis=0.5), False),
    "gain": (attrs.evolve(_GREEDY, normalise_gain=True), False),
    "emph+gain": (attrs.evolve(_GREEDY, pre_emphasis=0.5, normalise_gain=True), False),
    "beam5+prompt": (attrs.evolve(_GREEDY, beam_size=5), True),
    "beam5+gain": (attrs.evolve(_GREEDY, beam_size=5, normalise_gain=True), False),
    "beam5+emph+gain": (
        attrs.evolve(_GREEDY, beam_size=5, pre_emphasis=0.5, normalise_gain=True),
        False,
    ),
}


def entities(reference: str) -> list[tuple[str, str, Callable[[str], bool]]]:
    """(kind, value, is it in a heard line?) for each detail in ``reference``."""
    found: list[tuple[str, str, Callable[[str], bool]]] = []
    for kind, find in (("postcode", find_postcode), ("phone", find_phone)):
        want = find(reference)
        if want is not None:
            found.append((kind, str(want), lambda heard, f=find, w=want: f(normalise(heard)) == w))
    for kind, pattern in (("street", _STREET), ("name", _NAME)):
        for match in pattern.finditer(reference):
            value = match.group(match.lastindex or 0)
            words = " ".join(wer_words(value))
            found.append(
                (kind, value, lambda heard, w=words: f" {w} " in f" {' '.join(wer_words(heard))} ")
            )
    return found


@attrs.frozen
class Row:
    setting: str
    wer: float
    errors: int
    words: int
    right: dict[str, tuple[int, int]]  # kind -> (right, total)
    ms_p50: float
    ms_p95: float
    cpu_ms_p50: float  # CPU time of the whole process (all of CTranslate2's threads):
    cpu_ms_p95: float  # what a busy box cannot inflate


def compare(
    model,
    sets: dict[str, list[tuple[str, bytes]]],
    settings: Iterable[str],
    prompt: str,
    pad: Callable[[bytes], bytes],
) -> dict[str, list[Row]]:
    """Per set, one row per setting; ``sets``: name -> [(reference, 8 kHz PCM)]."""
    chosen = {name: SETTINGS[name] for name in settings}
    stts = {}
    for name, (options, with_prompt) in chosen.items():
        stts[name] = WhisperStt(RATE, model_path="unused", decoding=options)
        stts[name].prompt = prompt if with_prompt else None
    table: dict[str, list[Row]] = {}
    for set_name, items in sets.items():
        heard: dict[str, list[tuple[str, str]]] = {name: [] for name in chosen}
        took: dict[str, list[float]] = {name: [] for name in chosen}
        cpu: dict[str, list[float]] = {name: [] for name in chosen}
        for reference, pcm in items:
            for name, stt in stts.items():  # interleaved: the box's load hits all alike
                started, cpu_started = time.perf_counter(), time.process_time()
                text = stt.recognise(model, pad(pcm)).text
                took[name].append((time.perf_counter() - started) * 1000)
                cpu[name].append((time.process_time() - cpu_started) * 1000)
                heard[name].append((reference, text))
        rows = []
        for name in chosen:
            errors, words = word_error_rate(heard[name])
            right: dict[str, tuple[int, int]] = {}
            for reference, text in heard[name]:
                for kind, _value, found in entities(reference):
                    r, t = right.get(kind, (0, 0))
                    right[kind] = (r + found(text), t + 1)
            p50, p95 = np.percentile(took[name], [50, 95])
            cpu50, cpu95 = np.percentile(cpu[name], [50, 95])
            rows.append(Row(name, errors / words, errors, words, right, p50, p95, cpu50, cpu95))
        table[set_name] = rows
        print(f"{set_name}: {len(items)} lines done", file=sys.stderr, flush=True)
    return table


def print_table(table: dict[str, list[Row]], kinds=("postcode", "phone", "street", "name")) -> None:
    print(f"| audio | setting | WER | {' | '.join(kinds)} | decode p50 / p95 ms | CPU ms |")
    print("|---|---|---:|" + "---:|" * len(kinds) + "---:|---:|")
    for set_name, rows in table.items():
        for row in rows:
            cells = ["{}/{}".format(*row.right[k]) if k in row.right else "-" for k in kinds]
            print(
                f"| {set_name} | {row.setting} | {row.wer:.1%} | {' | '.join(cells)}"
                f" | {row.ms_p50:.0f} / {row.ms_p95:.0f}"
                f" | {row.cpu_ms_p50:.0f} / {row.cpu_ms_p95:.0f} |"
            )
