"""The fake Deepgram's ``hear`` mode: each connection hears its own audio.

With ``FakeDeepgram(hear=decode_tones)`` a recogniser's words come from the
tone-text its caller spoke, not from one script shared by every connection, so
calls that talk at once (the multi-host booking test) each get their own words.
"""

from __future__ import annotations

from tests.fakes.deepgram_asr import HeardScript, Recognizer
from tests.fakes.tone_text import decode_tones, encode_tones

RATE = 8000


def recognizer() -> Recognizer:
    return Recognizer(
        HeardScript(decode_tones),
        sample_rate=RATE,
        interim_results=True,
        endpointing_ms=300,
        utterance_end_ms=None,
        vad_events=False,
        interim_every_ms=300,
        threshold=500.0,
        request_id="fake-test",
    )


def finals(messages: list[dict]) -> list[str]:
    return [
        m["channel"]["alternatives"][0]["transcript"]
        for m in messages
        if m["type"] == "Results" and m["is_final"]
    ]


def test_two_connections_at_once_each_hear_their_own_words():
    lines = {"ann": ["Yes, please.", "Monday at 9 am."], "bob": ["No, thanks.", "Friday."]}
    recognizers = {name: recognizer() for name in lines}
    heard: dict[str, list[str]] = {name: [] for name in lines}
    frame = RATE * 20 // 1000 * 2
    for turn in range(2):
        audio = {name: encode_tones(said[turn]) + bytes(RATE) for name, said in lines.items()}
        for at in range(0, max(map(len, audio.values())), frame):  # 20 ms frames, interleaved
            for name, pcm in audio.items():
                heard[name] += finals(recognizers[name].feed(pcm[at : at + frame]))
    assert heard == lines


def test_interims_are_the_first_words_of_what_is_heard():
    rec = recognizer()
    messages = rec.feed(encode_tones("Can I book a visit for Monday?"))
    interims = [
        m["channel"]["alternatives"][0]["transcript"]
        for m in messages
        if m["type"] == "Results" and not m["is_final"]
    ]
    assert interims and all("Can I book a visit for Monday?".startswith(text) for text in interims)
    assert finals(rec.feed(bytes(RATE))) == ["Can I book a visit for Monday?"]
