"""DeepgramStt against the fake where the fake enforces Deepgram's own rules (issue 20).

In virtual time (autojump MockClock), over loopback: the ``Error`` message that
the stream survives, the languages each model documents, and smart format's
entity hold-back with its two documented remedies (``Finalize``, ``no_delay``).
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from agent.base.errors import ProviderStatusError
from agent.providers.stt.deepgram import DeepgramStt
from tests.fakes.deepgram import Fault, open_fake_deepgram
from tests.fakes.deepgram_asr import ENTITY_HOLD_MS, check_handshake
from tests.providers.stt.deepgram_rig import (
    LIMIT,
    RATE,
    SCRIPT,
    SPEECH,
    finals,
    frames,
    settings_for,
    silence,
    tone,
    transcribe,
)

PHONE = "My number is 07700 900123."


async def test_error_message_is_reported_and_the_stream_goes_on(autojump_clock, caplog):
    # Before: the client dropped the socket on an Error message and reconnected.
    faults = [Fault(error_after_messages=2)]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            session = await transcribe(stt, frames(SPEECH))
            fake.check()
    assert len(fake.connections) == 1
    assert [t.text for t in finals(session.events)] == SCRIPT
    stats = stt.statistics()
    assert stats.errors_reported == 1 and stats.connections == 1
    (line,) = [r.getMessage() for r in caplog.records if "reported an error" in r.getMessage()]
    assert "SchemaError: fake: the server could not parse a client message" in line


@pytest.mark.parametrize(
    ("model", "language", "refused"),
    [
        ("nova-3", "en-GB", False),  # our default: documented for nova-3
        ("nova-3", "multi", False),
        ("nova-3", "cy", True),  # Welsh: not documented for nova-3
        ("nova-2", "en-NZ", False),
        ("nova-2", "fr-BE", True),
    ],
)
def test_fake_checks_language_against_the_models_documented_languages(model, language, refused):
    target = f"/v1/listen?model={model}&language={language}&encoding=linear16&sample_rate=8000"
    status, detail, problems = check_handshake(target, {"authorization": "Token k"}, "k", None)
    assert (status == 400) is refused and bool(problems) is refused
    if refused:
        assert "No such model/language/tier combination found." in detail


async def test_undocumented_language_fails_the_call_start_in_deepgrams_words(autojump_clock):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake, language="cy"), RATE)
            _audio_in, audio_out = trio.open_memory_channel[bytes](10)
            events_in, _events_out = trio.open_memory_channel[Any](10)
            async with trio.open_nursery() as nursery:
                with pytest.raises(ProviderStatusError, match="No such model/language") as caught:
                    await nursery.start(stt.run, audio_out, events_in)
    assert caught.value.status == 400 and not caught.value.retryable
    assert len(fake.connections) == 1


async def hold_back(plan: list[Any], **settings: Any):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=[PHONE], sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake, **settings), RATE)
            session = await transcribe(stt, plan)
            fake.check()
    (final,) = finals(session.events)
    at = session.times[session.events.index(final)]
    return final, at, fake.connections[0]


SPOKEN = frames(tone(1200))
SPEECH_END = 1.2  # the plan's frames take 20 ms each, from t=0


async def test_entity_final_is_held_for_3_s_without_a_remedy(autojump_clock):
    final, at, connection = await hold_back([*SPOKEN, *frames(silence(4000))])
    assert connection.recognizer is not None and connection.recognizer.held == 1
    assert at - SPEECH_END >= ENTITY_HOLD_MS / 1000 - 0.1  # audio goes in 100 ms batches
    assert final.text == PHONE and final.end_of_turn


async def test_finalize_releases_the_held_final_at_once(autojump_clock):
    plan = [*SPOKEN, *frames(silence(600)), "finalize", *frames(silence(3400))]
    final, at, connection = await hold_back(plan)
    assert connection.controls[0] == "Finalize"
    assert at - SPEECH_END < 0.7  # 0.6 s of silence, then the answer
    assert final.text == PHONE and final.end_of_turn  # formatted, and the turn is over


async def test_no_delay_finalizes_at_endpointing_but_loses_the_formatting(autojump_clock):
    final, at, _ = await hold_back([*SPOKEN, *frames(silence(4000))], no_delay=True)
    assert at - SPEECH_END < 0.5  # endpointing (400 ms)
    assert final.text == "My number is 0 7 7 0 0 9 0 0 1 2 3"
