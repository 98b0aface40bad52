"""The pure half of the fake Deepgram: handshake judge and scripted recogniser.

``check_handshake`` applies the documented rules for a ``/v1/listen`` upgrade,
``language`` against the model's documented languages included;
``Recognizer`` turns received PCM into Deepgram's messages, timed only by the
audio (a 10 ms energy detector), so the same PCM always gives the same
messages. No trio, no sockets: ``fake_deepgram`` does the I/O.

Smart format's entity hold-back (Deepgram changelog 2025-04-02, "Smart
Formatting Improvements"): with ``smart_format=true`` a final whose entity may
go on ("... 07700 900123": the script text ends in digits) is withheld until
the client sends ``Finalize`` or 3 s of silence pass (then ``speech_final``);
``UtteranceEnd``, timed from finalized words, waits with it. ``no_delay=true``
finalizes at once but "skips formatting altogether in many cases": digits come
back one by one.
"""

from __future__ import annotations

import hashlib
import math
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["PATH", "HeardScript", "Recognizer", "Script", "check_handshake"]

PATH = "/v1/listen"
# The documented /v1/listen parameters (Deepgram reference, section 2).
_KNOWN_TEXT = """
model language encoding sample_rate channels multichannel interim_results endpointing
utterance_end_ms vad_events punctuate smart_format no_delay numerals keyterm keywords
filler_words profanity_filter redact diarize diarize_model search replace tag extra
callback callback_method mip_opt_out version dictation detect_entities
"""
_BOOLEAN_TEXT = """
multichannel interim_results vad_events punctuate smart_format no_delay numerals
filler_words profanity_filter diarize mip_opt_out dictation detect_entities
"""
_KNOWN = frozenset(_KNOWN_TEXT.split())
_BOOLEAN = frozenset(_BOOLEAN_TEXT.split())
_REPEATABLE = frozenset({"keyterm", "keywords", "search", "replace", "tag", "extra", "redact"})
_BLOCK_MS = 10
_UNENDPOINTED_FINAL_MS = 300  # with endpointing=false, finals still come after a pause
ENTITY_HOLD_MS = 3000  # smart_format: an entity that may go on is finalized after this

# The documented languages per model (developers.deepgram.com, read 2026-12-02):
# nova-3 from the Models & Languages overview and the Nova-3 changelog entries
# 2025-08-15 .. 2026-08-05; nova-2 its 36 languages (changelog 2024-05-14) and
# multi (2024-07-16). Any other model (custom ids) is not checked.
_NOVA3 = """
en en-US en-AU en-GB en-IN en-NZ multi de nl sv sv-SE da da-DK es es-419 fr fr-CA pt pt-BR
pt-PT it tr no id bg cs fi hi hu ja ko ko-KR pl ru uk vi ca et nl-BE de-CH el lv lt ms ro sk
be bn bs hr kn mk mr sr sl ta tl te zh-HK th th-TH zh zh-CN zh-Hans zh-TW zh-Hant pa pa-IN ne
"""
_NOVA2 = """
en en-US en-AU en-GB en-IN en-NZ multi bg ca zh zh-CN zh-TW zh-HK cs da nl nl-BE et fi fr fr-CA
de de-CH el hi hu id it ja ko lv lt ms no pl pt pt-BR ro ru sk es es-419 sv th tr uk vi
"""
LANGUAGES = {"nova-3": frozenset(_NOVA3.split()), "nova-2": frozenset(_NOVA2.split())}


def documented_languages(model: str) -> frozenset[str] | None:
    """The languages the docs list for ``model`` (``nova-3-general`` is nova-3), or None."""
    for family, languages in LANGUAGES.items():
        if model == family or model == f"{family}-general":
            return languages
    return None


def _ends_with_entity(text: str) -> bool:
    """A phone number, a date, an amount: the last word has a digit in it."""
    words = text.split()
    return bool(words) and any(ch.isdigit() for ch in words[-1])


def _unformatted(text: str) -> str:
    """What no_delay gives: numbers digit by digit, as spoken."""
    return " ".join(
        " ".join(ch for ch in word if ch.isdigit()) if any(ch.isdigit() for ch in word) else word
        for word in text.split()
    )


class Script:
    """The texts to 'recognise', in order, shared by every connection; once they
    run out, every utterance is heard as ``default`` (empty: no words)."""

    def __init__(self, texts: Sequence[str], default: str = "") -> None:
        self._texts = list(texts)
        self.default = default
        self.index = 0

    def peek(self) -> str:
        return self._texts[self.index] if self.index < len(self._texts) else self.default

    def take(self) -> str:
        text = self.peek()
        self.index += 1
        return text

    def listen(self, pcm: bytes) -> None:
        """Audio as it arrives (a script says the same whatever it hears)."""


class HeardScript(Script):
    """One connection's texts heard from its own audio: ``hear(pcm)`` turns the
    PCM since the last utterance into text (tone-text decoding, say), so calls
    that run at once each get their own words, whatever order they speak in."""

    def __init__(self, hear: Callable[[bytes], str]) -> None:
        super().__init__(())
        self.hear = hear
        self._audio = bytearray()
        self._heard = (0, "")  # (bytes heard, text): peek runs at every 10 ms block

    def listen(self, pcm: bytes) -> None:
        self._audio += pcm

    def peek(self) -> str:
        if self._heard[0] != len(self._audio):
            self._heard = (len(self._audio), self.hear(bytes(self._audio)))
        return self._heard[1]

    def take(self) -> str:
        text = self.peek()
        self._audio.clear()
        self._heard = (0, "")
        self.index += 1
        return text


class Recognizer:
    """Turns received PCM into Deepgram messages, deterministically (pure)."""

    def __init__(
        self,
        script: Script,
        *,
        sample_rate: int,
        interim_results: bool,
        endpointing_ms: int | None,
        utterance_end_ms: int | None,
        vad_events: bool,
        interim_every_ms: int,
        threshold: float,
        request_id: str,
        smart_format: bool = False,
        no_delay: bool = False,
    ) -> None:
        self.script = script
        self.hold_entities = smart_format and not no_delay
        self.unformatted = smart_format and no_delay
        self.held = 0  # finals withheld for an entity (released by Finalize or the timeout)
        self.block_bytes = max(2, sample_rate * _BLOCK_MS // 1000 * 2)
        self.sample_rate = sample_rate
        self.interim_results = interim_results
        self.endpointing_ms = endpointing_ms
        self.utterance_end_ms = utterance_end_ms if interim_results else None
        self.vad_events = vad_events
        self.interim_every_ms = interim_every_ms
        self.threshold = threshold
        self.request_id = request_id
        self._carry = b""
        self._pos = 0  # ms of audio processed
        self._final_end = 0  # ms: where the next Results starts
        self._in_speech = False
        self._speech_start = 0
        self._voiced_end = 0
        self._silence = 0
        self._interims = 0
        self._next_interim = 0
        self._last_word_end: int | None = None  # pending UtteranceEnd
        self._sha = hashlib.sha256()
        self._bytes = 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self.script.listen(data)
        self._sha.update(data)
        self._bytes += len(data)
        buf = self._carry + data
        whole = len(buf) - len(buf) % self.block_bytes
        self._carry = buf[whole:]
        out: list[dict[str, Any]] = []
        if whole:
            # Every whole block's mean square at once: one numpy call per message, not
            # one per 20 ms block (the fake's largest cost at a hundred load calls).
            samples = np.frombuffer(buf, dtype="<i2", count=whole // 2).astype(np.float64)
            blocks = samples.reshape(-1, self.block_bytes // 2)
            for mean_square in np.mean(blocks * blocks, axis=1).tolist():
                self._block(math.sqrt(mean_square) >= self.threshold, out)
        return out

    def _block(self, voiced: bool, out: list[dict[str, Any]]) -> None:
        start = self._pos
        self._pos += _BLOCK_MS
        if voiced:
            self._silence = 0
            if not self._in_speech:
                self._in_speech = True
                self._speech_start = start
                self._interims = 0
                self._next_interim = start + self.interim_every_ms
                self._last_word_end = None
                if self.vad_events:
                    out.append(
                        {"type": "SpeechStarted", "channel": [0, 1], "timestamp": start / 1000}
                    )
            self._voiced_end = self._pos
            if self.interim_results and self._pos >= self._next_interim:
                self._interims += 1
                self._next_interim += self.interim_every_ms
                words = self.script.peek().split()
                out.append(self._results(" ".join(words[: self._interims]), final=False))
            return
        self._silence += _BLOCK_MS
        if self._in_speech and self.hold_entities and _ends_with_entity(self.script.peek()):
            if self._silence == (self.endpointing_ms or _UNENDPOINTED_FINAL_MS):
                self.held += 1
            if self._silence >= ENTITY_HOLD_MS:
                out.append(self._final(speech_final=True))
        elif self._in_speech:
            if self.endpointing_ms is not None and self._silence >= self.endpointing_ms:
                out.append(self._final(speech_final=True))
            elif self.endpointing_ms is None and self._silence >= _UNENDPOINTED_FINAL_MS:
                out.append(self._final(speech_final=False))
        elif (
            self._last_word_end is not None
            and self.utterance_end_ms is not None
            and self._pos - self._last_word_end >= self.utterance_end_ms
        ):
            out.append(
                {
                    "type": "UtteranceEnd",
                    "channel": [0, 1],
                    "last_word_end": self._last_word_end / 1000,
                }
            )
            self._last_word_end = None

    def _final(self, *, speech_final: bool, from_finalize: bool = False) -> dict[str, Any]:
        text = self.script.take() if self._in_speech else ""
        message = self._results(
            text, final=True, speech_final=speech_final, from_finalize=from_finalize
        )
        self._final_end = self._pos
        if self._in_speech and text:
            self._last_word_end = self._voiced_end
        self._in_speech = False
        return message

    def _results(
        self, text: str, *, final: bool, speech_final: bool = False, from_finalize: bool = False
    ) -> dict[str, Any]:
        if self.unformatted:
            text = _unformatted(text)
        words = text.split()
        span = max(self._voiced_end - self._speech_start, _BLOCK_MS) / max(len(words), 1)
        word_objects = [
            {
                "word": word.strip(".,?!;:").lower(),
                "start": round((self._speech_start + i * span) / 1000, 3),
                "end": round((self._speech_start + (i + 1) * span) / 1000, 3),
                "confidence": 0.99,
                "punctuated_word": word,
            }
            for i, word in enumerate(words)
        ]
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": (self._pos - self._final_end) / 1000,
            "start": self._final_end / 1000,
            "is_final": final,
            "speech_final": speech_final,
            "from_finalize": from_finalize,
            "channel": {
                "alternatives": [
                    {"transcript": text, "confidence": 0.98 if text else 0.0, "words": word_objects}
                ]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_uuid": "00000000-0000-4000-8000-000000000000",
                "model_info": {"name": "fake-nova", "version": "0", "arch": "fake"},
            },
        }

    def finalize(self) -> list[dict[str, Any]]:
        return [self._final(speech_final=False, from_finalize=True)]

    def close(self) -> list[dict[str, Any]]:
        out = [self._final(speech_final=False)] if self._in_speech else []
        out.append(
            {
                "type": "Metadata",
                "transaction_key": "deprecated",
                "request_id": self.request_id,
                "sha256": self._sha.hexdigest(),
                "created": "2026-01-01T00:00:00.000Z",
                "duration": self._bytes / (2 * self.sample_rate),
                "channels": 1,
            }
        )
        return out


def check_handshake(
    target: str, headers: dict[str, str], api_key: str, sample_rate: int | None
) -> tuple[int | None, str, list[str]]:
    """Judge an upgrade request: (status to refuse with or None, dg-error text, violations)."""
    parts = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    problems: list[str] = []
    if parts.path != PATH:
        problems.append(f"path {parts.path!r} is not {PATH}")
    names = [key for key, _ in query]
    for name in sorted(set(names)):
        if name not in _KNOWN:
            problems.append(f"unknown query parameter {name!r}")
        elif name not in _REPEATABLE and names.count(name) > 1:
            problems.append(f"query parameter {name!r} given {names.count(name)} times")
    params = dict(query)
    if not params.get("model"):
        problems.append("no model")
    if params.get("encoding") != "linear16":
        problems.append(f"encoding={params.get('encoding')!r}: raw PCM needs linear16")
    rate = params.get("sample_rate", "")
    if not rate.isdigit() or int(rate) <= 0:
        problems.append(f"sample_rate={rate!r}: required with encoding, a positive integer")
    elif sample_rate is not None and int(rate) != sample_rate:
        problems.append(f"sample_rate={rate} but the audio is {sample_rate} Hz")
    if params.get("channels", "1") != "1":
        problems.append(f"channels={params['channels']!r}: telephony audio is mono")
    for name in _BOOLEAN & params.keys():
        if params[name] not in ("true", "false"):
            problems.append(f"{name}={params[name]!r}: booleans are true/false")
    endpointing = params.get("endpointing", "10")
    if endpointing != "false" and not endpointing.isdigit():
        problems.append(f"endpointing={endpointing!r}: milliseconds or false")
    if "utterance_end_ms" in params:
        if not params["utterance_end_ms"].isdigit():
            problems.append(f"utterance_end_ms={params['utterance_end_ms']!r}: milliseconds")
        if params.get("interim_results") != "true":
            problems.append("utterance_end_ms needs interim_results=true")
    model = params.get("model", "")
    languages = documented_languages(model)
    language = params.get("language", "en")
    if languages is not None and language not in languages:
        # Deepgram's answer to an unsupported combination (a 400 at the handshake).
        problems.append(
            f"language={language!r} is not documented for {model}: No such"
            " model/language/tier combination found."
        )
    nova3 = model == "nova-3" or model.startswith("nova-3-")
    for key, value in query:
        if key == "keyterm" and (not nova3 or value.startswith("[")):
            problems.append(f"keyterm={value!r} with model {model!r}: one term per pair, nova-3")
        if key == "keywords" and nova3:
            # The real service refuses this handshake with 400.
            problems.append("keywords are not supported for nova-3; use keyterm")
    status = 400 if problems else None
    detail = "; ".join(problems)
    auth = headers.get("authorization")
    if auth is None or not auth.startswith("Token "):
        problems.append(f"Authorization header {auth!r}: expected 'Token <key>'")
        status, detail = 401, "Invalid credentials."
    elif auth != f"Token {api_key}" and status is None:
        status, detail = 401, "Invalid credentials."  # a wrong key is not a protocol error
    return status, detail, problems
