"""DeepgramStt over TLS (wss://) against the fake, trusted through VOICE_AGENT_CA_FILE,
and the fake's timing of a final from the caller's stamped frames (the benchmarks'
uplink measure)."""

from __future__ import annotations

import pytest
import trio

from agent.base.events import Transcript
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from tests.fakes.deepgram import open_fake_deepgram
from tests.fakes.framestamp import now_us, read_stamp, stamped_silence
from tests.fakes.tls import LoopbackTLS
from tests.providers.stt.deepgram_rig import FRAME, RATE, frames, tone, transcribe

ENDPOINTING_MS = 100


def test_stamps_round_trip_and_plain_silence_has_none():
    at = now_us() - 5_000_000
    frame = stamped_silence(FRAME, at)
    assert len(frame) == FRAME and max(frame) <= 1
    assert read_stamp(frame) == pytest.approx(at / 1e6, abs=1e-6)
    assert read_stamp(bytes(FRAME)) is None
    assert read_stamp(tone(20)) is None


@pytest.mark.realtime
async def test_a_final_over_tls_carries_the_stamp_of_the_frame_that_ended_it(monkeypatch, tmp_path):
    tls = LoopbackTLS(tmp_path)
    monkeypatch.setenv("VOICE_AGENT_CA_FILE", str(tls.ca_file))
    base = now_us() - 60_000_000
    silent = [stamped_silence(FRAME, base + 20_000 * k) for k in range(40)]
    with trio.fail_after(20):
        async with open_fake_deepgram(
            script=["I need a plumber."], sample_rate=RATE, ssl_context=tls.server_context
        ) as fake:
            assert fake.url.startswith("wss://")
            settings = DeepgramSettings(
                api_key=fake.api_key, url=fake.url, endpointing_ms=ENDPOINTING_MS, batch_ms=100
            )
            session = await transcribe(DeepgramStt(settings, RATE), [*frames(tone(600)), *silent])
            fake.check()
    finals = [e for e in session.events if isinstance(e, Transcript) and e.is_final]
    assert [f.text for f in finals] == ["I need a plumber."]
    (connection,) = fake.connections
    (timing,) = connection.final_timing
    audio_at, arrived, sent = timing
    # 100 ms of silence: the fifth silent frame completes the endpointing.
    assert audio_at == pytest.approx((base + 20_000 * (ENDPOINTING_MS // 20 - 1)) / 1e6, abs=1e-6)
    assert arrived <= sent
