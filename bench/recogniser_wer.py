"""Word error rate of the offline recogniser (Whisper tiny.en) with and without the
company's vocabulary (``agent.dialogue.vocabulary``), and how often a postcode or a
phone number is read right once ``agent.dialogue.normalise`` has rewritten the line.

    python bench/recogniser_wer.py [--voices en-gb,flite:rms,festival:ked_diphone] [--json P]
    python bench/recogniser_wer.py --voices flite:rms,festival:ked_diphone \
        --settings base,beam5,timestamps,condprev,prompt,emph,gain [--json P]

Audio: the caller fixtures (Festival, agent/demo/data/caller) and the same lines plus
a few with the company's words spoken by espeak-ng voices (the espeak-ng program) or
the caller corpus' voices (``flite:rms``, ``festival:ked_diphone``), at 8 kHz as a
phone call. Each line is decoded as one utterance by
``WhisperStt.recognise``. Needs the offline extra; nothing here asserts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import attrs
import numpy as np
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from caller_corpus import synthesise  # flite and Festival voices, cached
from recogniser_settings import DETAIL_LINES, SETTINGS, compare, print_table

from agent.base.wav import read_wav
from agent.business.company import EXAMPLE_COMPANIES, parse_directory
from agent.business.ukformats import find_phone, find_postcode
from agent.demo.scenarios import CALLER_LINES
from agent.demo.wer import word_error_rate
from agent.dialogue.normalise import normalise
from agent.dialogue.vocabulary import Vocabulary, company_terms, company_vocabulary
from agent.providers.stt.whisper import WhisperStt, default_model_path, load_model

RATE = 8000
# Lines with the company's words, for the espeak voices (text = reference).
EXTRA = (
    "My boiler has stopped working and the radiators are cold.",
    "The toilet is blocked, can you unblock the drain?",
    "I'm calling Thames Plumbing about a leaking pipe.",
    "My postcode is SE11 5PH.",
    "My postcode is SW7 2AZ.",
    "I live at 41 Kennington Road.",
    "My number is 07700 900456.",
)


def fixtures() -> list[tuple[str, str, bytes]]:
    rows = []
    for line in (CALLER_LINES / "manifest.tsv").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, say, reference = line.split("\t")
            with wave.open(str(CALLER_LINES / f"{name}.wav")) as wav:
                rows.append((say, reference, wav.readframes(wav.getnframes())))
    return rows


def espeak(voice: str, text: str) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        subprocess.run(["espeak-ng", "-v", voice, "-w", tmp.name, text], check=True)
        with wave.open(tmp.name) as wav:
            rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), np.int16)
    phone = soxr.resample(pcm.astype(np.float32) / 32768, rate, RATE)
    return (np.clip(phone, -1, 1) * 32767).astype(np.int16).tobytes()


def decode(stt: WhisperStt, model, pcm: bytes) -> str:
    quiet = bytes(int(0.3 * RATE) * 2)  # the pre-roll and hangover a call would give
    return stt.recognise(model, quiet + pcm + quiet).text


def entities_right(pairs: list[tuple[str, str]], rewrite=normalise) -> tuple[int, int]:
    """Postcodes and phone numbers in the references found equal in the heard lines,
    after ``rewrite`` (``normalise``: what the policy reads)."""
    right = total = 0
    for reference, heard in pairs:
        for find in (find_postcode, find_phone):
            want = find(reference)
            if want is not None:
                total += 1
                right += find(rewrite(heard)) == want
    return right, total


def main() -> int:
    os.environ["VOICE_AGENT_WHISPER_VOCABULARY"] = "1"  # the bench compares with and without
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--voices", default="en-gb,en-us,en-gb-scotland")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--variants", default="none,prompt,prompt+hotwords")
    parser.add_argument(
        "--settings",
        help=f"compare decoding settings instead, on more lines: {','.join(SETTINGS)}",
    )
    args = parser.parse_args()
    company = parse_directory(json.loads(EXAMPLE_COMPANIES.read_text())).companies[0]
    prompt = company_vocabulary(company).prompt
    variants = {
        "none": Vocabulary(""),
        "prompt": Vocabulary(prompt),
        "prompt+hotwords": Vocabulary(prompt, company_terms(company)),
    }
    variants = {k: v for k, v in variants.items() if k in args.variants.split(",")}
    model = load_model(default_model_path())
    sets = {"fixtures (Festival)": [(ref, ref, pcm) for _, ref, pcm in fixtures()]}
    extra = EXTRA + DETAIL_LINES if args.settings else EXTRA
    lines = [say for say, _, _ in fixtures()] + list(extra)
    refs = [ref for _, ref, _ in fixtures()] + list(extra)
    for voice in args.voices.split(","):
        if ":" in voice:  # flite:rms, festival:ked_diphone: the caller corpus' voices
            sets[voice] = [
                (say, ref, read_wav(synthesise(voice, say), RATE))
                for say, ref in zip(lines, refs, strict=True)
            ]
            continue
        sets[f"espeak {voice}"] = [
            (say, ref, espeak(voice, say)) for say, ref in zip(lines, refs, strict=True)
        ]
    if args.settings:
        quiet = bytes(int(0.3 * RATE) * 2)  # the pre-roll and hangover a call would give
        table = compare(
            model,
            {name: [(ref, pcm) for _, ref, pcm in items] for name, items in sets.items()},
            args.settings.split(","),
            prompt,
            lambda pcm: quiet + pcm + quiet,
        )
        print_table(table)
        if args.json:
            args.json.write_text(
                json.dumps({k: [attrs.asdict(r) for r in v] for k, v in table.items()}, indent=1)
            )
        return 0
    results: dict[str, dict[str, list[float]]] = {}
    print("| audio | vocabulary | WER | postcodes, phone numbers right: as heard, normalised |")
    print("|---|---|---|---|")
    for name, items in sets.items():
        for label, vocabulary in variants.items():
            stt = WhisperStt(RATE, model_path="unused")
            stt.use_vocabulary(vocabulary)
            stt.prompt = stt.prompt or None
            pairs = [(ref, decode(stt, model, pcm)) for _, ref, pcm in items]
            errors, words = word_error_rate(pairs)
            right, total = entities_right(pairs)
            raw, _ = entities_right(pairs, rewrite=str)
            results.setdefault(name, {})[label] = [errors, words, raw, right, total]
            wer = f"{errors / words:.1%} ({errors}/{words})"
            print(f"| {name} | {label} | {wer} | {raw}/{total}, {right}/{total} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
