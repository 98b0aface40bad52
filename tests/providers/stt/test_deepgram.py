"""DeepgramStt against the fake Deepgram server over loopback WebSocket.

Every test runs under the autojump MockClock: loopback sockets deliver data
inside the sending syscall and Trio polls I/O before each jump, so virtual time
only jumps when both sides are really idle (keepalive, backoff, pauses cost no
wall time). Each test is bounded by ``trio.fail_after``. How the audio is batched
on the way out: test_deepgram_sending.py.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Request

from agent.base.errors import ProviderStatusError
from agent.base.events import SpeechStarted, UtteranceEnd
from agent.providers.protocols import SpeechToText
from agent.providers.stt import deepgram
from agent.providers.stt.deepgram import DeepgramSettings, DeepgramStt
from tests.fakes.deepgram import Fault, open_fake_deepgram
from tests.providers.stt.deepgram_rig import (
    FRAME,
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


@pytest.mark.parametrize("batch_ms", [20, 100, 250])
async def test_happy_path_maps_interims_finals_and_utterance_end(batch_ms, autojump_clock):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake, batch_ms=batch_ms), RATE)
            assert isinstance(stt, SpeechToText)
            session = await transcribe(stt, frames(SPEECH))
            fake.check()

    kinds = [
        type(e).__name__ + ("/final" if getattr(e, "is_final", False) else "")
        for e in session.events
    ]
    first_turn = kinds[: kinds.index("UtteranceEnd") + 1]
    assert first_turn == [
        "SpeechStarted",
        "Transcript",
        "Transcript",
        "Transcript/final",
        "UtteranceEnd",
    ]
    done = finals(session.events)
    assert [t.text for t in done] == SCRIPT
    assert all(t.end_of_turn for t in done)
    interim = session.events[1]
    assert interim.text == "I" and not interim.is_final and not interim.end_of_turn
    assert done[0].words[-1].text == "plumber."
    assert done[0].words[-1].end == pytest.approx(0.8)
    # The second utterance starts 2.3 s into the call (800 ms tone + 1.5 s pause).
    second_start = [e for e in session.events if isinstance(e, SpeechStarted)][1]
    assert second_start.timestamp == pytest.approx(2.3)
    ends = [e for e in session.events if isinstance(e, UtteranceEnd)]
    assert [e.last_word_end for e in ends] == pytest.approx([0.8, 2.9])

    (connection,) = fake.connections
    assert connection.param("model") == "nova-3" and connection.param("sample_rate") == "8000"
    assert connection.headers["authorization"] == f"Token {fake.api_key}"
    assert bytes(connection.audio) == SPEECH
    assert connection.controls == ["CloseStream"]
    assert connection.sent[-1]["type"] == "Metadata"
    assert connection.closed_by == "server" and connection.close_code == 1000
    stats = stt.statistics()
    assert stats.connections == 1 and stats.audio_bytes_sent == len(SPEECH)


async def test_started_only_once_connected(autojump_clock):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            audio_in, audio_out = trio.open_memory_channel[bytes](10)
            events_in, events_out = trio.open_memory_channel[Any](10)
            async with trio.open_nursery() as nursery:
                await nursery.start(stt.run, audio_out, events_in)
                assert fake.connections and fake.connections[0].accepted
                await audio_in.aclose()
            with pytest.raises(trio.EndOfChannel):
                await events_out.receive()  # run closed its end
            fake.check()


async def test_cancel_mid_stream_closes_connection_and_output(autojump_clock):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            audio_in, audio_out = trio.open_memory_channel[bytes](50)
            events_in, events_out = trio.open_memory_channel[Any](100)
            async with trio.open_nursery() as nursery:
                await nursery.start(stt.run, audio_out, events_in)
                stt.caller_speaking()  # in talking batches: the last one full when cancelled
                for frame in frames(tone(400)):
                    await audio_in.send(frame)
                    await trio.sleep(0.02)
                nursery.cancel_scope.cancel()
            record = fake.connections[0]
            await record.done.wait()
            assert record.closed_by == "client" and record.close_code == 1000
            assert record.controls == []  # cancelled, not ended: no CloseStream
            assert len(record.audio) == len(tone(400))
            with pytest.raises(trio.EndOfChannel):
                while True:
                    await events_out.receive()
            fake.check()


@pytest.mark.parametrize("speech_ms", [700, 740])  # 740: two frames wait in a batch
async def test_finalize_reaches_the_server_and_returns_the_final(speech_ms, autojump_clock):
    plan = [*frames(tone(speech_ms)), "finalize", *frames(silence(1500))]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE) as fake:
            session = await transcribe(DeepgramStt(settings_for(fake), RATE), plan)
            fake.check()
    assert fake.controls("Finalize") == 1
    from_finalize = [m for m in fake.connections[0].sent if m.get("from_finalize")]
    assert len(from_finalize) == 1
    (final,) = finals(session.events)
    # We asked for it because the turn logic decided the caller was done: it ends the turn.
    assert final.text == "I need a plumber." and final.end_of_turn
    # Flushed at once instead of after 400 ms of endpointing silence: the audio
    # taken before finalize() went first, nothing taken after it.
    assert final.duration == pytest.approx(speech_ms / 1000)


async def test_keepalive_sent_while_audio_pauses(autojump_clock):
    plan = [*frames(tone(300)), 25.0, *frames(silence(200))]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE, idle_timeout_s=10.0) as fake:
            stt = DeepgramStt(settings_for(fake, keepalive_s=4.0), RATE)
            await transcribe(stt, plan)
            fake.check()
    (record,) = fake.connections
    assert not record.idle_timeout
    assert record.controls.count("KeepAlive") == 6  # 25 s pause / 4 s
    assert stt.statistics().keepalives_sent == 6


async def test_server_idle_close_is_survived_by_reconnecting(autojump_clock):
    # A fake stricter than Deepgram (3 s) against a 4 s keepalive: dropped, back.
    plan = [*frames(tone(300)), 5.0, *frames(silence(200))]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE, idle_timeout_s=3.0) as fake:
            stt = DeepgramStt(settings_for(fake, keepalive_s=4.0), RATE)
            await transcribe(stt, plan)
            fake.check()
    assert fake.connections[0].idle_timeout
    assert fake.connections[0].close_code == 1011
    assert len(fake.connections) == 2


@pytest.mark.parametrize(
    ("fault", "status", "retryable", "attempts"),
    [
        (Fault(reject_status=401), 401, False, 1),
        (Fault(reject_status=403), 403, False, 1),
        (Fault(reject_status=500), 500, True, 3),
        (Fault(reject_status=429, retry_after=2.0), 429, True, 3),
    ],
)
async def test_refused_handshake_maps_to_provider_status_error(
    autojump_clock, fault, status, retryable, attempts
):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE, faults=[fault] * 5) as fake:
            stt = DeepgramStt(settings_for(fake, reconnect_attempts=2), RATE)
            audio_in, audio_out = trio.open_memory_channel[bytes](10)
            events_in, _events_out = trio.open_memory_channel[Any](10)
            began = trio.current_time()
            async with trio.open_nursery() as nursery:
                with pytest.raises(ProviderStatusError) as caught:
                    await nursery.start(stt.run, audio_out, events_in)
            fake.check()
    error = caught.value
    assert error.status == status and error.retryable is retryable
    assert error.provider == "deepgram"
    assert len(fake.connections) == attempts
    if fault.retry_after:
        # Two waits, each at least the server's Retry-After.
        assert trio.current_time() - began >= 2 * fault.retry_after
    audio_in.close()


async def test_wrong_key_is_a_permanent_401(autojump_clock):
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE) as fake:
            stt = DeepgramStt(DeepgramSettings(api_key="not-the-key", url=fake.url), RATE)
            _audio_in, audio_out = trio.open_memory_channel[bytes](10)
            events_in, _events_out = trio.open_memory_channel[Any](10)
            async with trio.open_nursery() as nursery:
                with pytest.raises(ProviderStatusError, match="Invalid credentials") as caught:
                    await nursery.start(stt.run, audio_out, events_in)
            fake.check()
    assert caught.value.status == 401 and not caught.value.retryable
    assert len(fake.connections) == 1


async def test_transient_refusals_are_retried_then_streaming_works(autojump_clock):
    with trio.fail_after(LIMIT):
        faults = [Fault(reject_status=503), Fault(reject_status=500)]
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            session = await transcribe(stt, frames(SPEECH))
            fake.check()
    assert [t.text for t in finals(session.events)] == SCRIPT
    assert [c.rejected_status for c in fake.connections] == [503, 500, None]
    assert stt.statistics().failed_attempts == 2


async def test_drop_mid_call_reconnects_and_replays_buffered_audio(autojump_clock):
    faults = [Fault(close_after_audio_ms=1500, close_code=1011, close_reason="NET-0000")]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            session = await transcribe(stt, frames(SPEECH))
            fake.check()
    assert len(fake.connections) == 2
    first, second = (bytes(c.audio) for c in fake.connections)
    # No gap: the first connection got a prefix, the second the rest from a point
    # no later than where the first stopped (the unfinalized tail is sent again).
    assert SPEECH.startswith(first)
    assert SPEECH.endswith(second)
    # The replayed backlog went in messages of at most 250 ms.
    assert max(size for _, size in fake.connections[1].audio_messages) <= RATE * 2 // 4
    assert len(first) + len(second) >= len(SPEECH)
    # The replay starts where the first utterance's final ended (1.2 s).
    assert len(SPEECH) - len(second) == RATE * 2 * 1200 // 1000
    assert stt.statistics().audio_bytes_dropped == 0
    assert [t.text for t in finals(session.events)] == SCRIPT
    # Times stay call-relative across the reconnect.
    assert [e for e in session.events if isinstance(e, SpeechStarted)][-1].timestamp == (
        pytest.approx(2.3)
    )


async def test_outage_with_failed_handshakes_loses_no_audio(autojump_clock):
    faults = [
        Fault(close_after_audio_ms=1000),
        Fault(reject_status=503),
        Fault(reject_status=503),
    ]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake, reconnect_initial_s=0.5), RATE)
            session = await transcribe(stt, frames(SPEECH))
            fake.check()
    last = bytes(fake.connections[-1].audio)
    assert len(fake.connections) == 4
    assert SPEECH.endswith(last) and len(last) >= len(SPEECH) - len(fake.connections[0].audio)
    assert stt.statistics().audio_bytes_dropped == 0
    assert [t.text for t in finals(session.events)] == SCRIPT


async def test_outage_longer_than_the_buffer_drops_only_the_oldest_audio(autojump_clock):
    faults = [Fault(close_after_audio_ms=1000)] + [Fault(reject_status=503)] * 3
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(
                settings_for(fake, max_buffer_s=0.5, reconnect_initial_s=0.5, reconnect_max_s=0.5),
                RATE,
            )
            await transcribe(stt, frames(SPEECH))
            fake.check()
    stats = stt.statistics()
    received_last = bytes(fake.connections[-1].audio)
    assert SPEECH.endswith(received_last)
    assert stats.audio_bytes_dropped > 0
    # What never reached the server is exactly what the session reports dropped.
    missing = len(SPEECH) - len(fake.connections[0].audio) - len(received_last)
    assert missing == stats.audio_bytes_dropped


async def test_permanent_close_code_is_raised(autojump_clock):
    faults = [Fault(close_after_audio_ms=500, close_code=1008, close_reason="DATA-0000")]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            # transcribe() runs the session in a nursery, hence the group.
            expected = pytest.RaisesExc(ProviderStatusError, match="1008 DATA-0000")
            with pytest.RaisesGroup(expected) as caught:
                await transcribe(stt, frames(SPEECH))
    (error,) = caught.value.exceptions
    assert error.status == 1008 and not error.retryable
    assert len(fake.connections) == 1


async def test_malformed_message_is_skipped(autojump_clock):
    faults = [Fault(malformed_after_messages=1)]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake), RATE)
            session = await transcribe(stt, frames(SPEECH))
            fake.check()
    assert stt.statistics().malformed_messages == 1
    assert [t.text for t in finals(session.events)] == SCRIPT
    assert len(fake.connections) == 1


async def test_stalled_server_is_closed_after_close_timeout(autojump_clock):
    faults = [Fault(stall_after_audio_ms=500)]
    with trio.fail_after(LIMIT):
        async with open_fake_deepgram(script=SCRIPT, sample_rate=RATE, faults=faults) as fake:
            stt = DeepgramStt(settings_for(fake, close_timeout_s=2.0), RATE)
            began = trio.current_time()
            session = await transcribe(stt, frames(SPEECH))
            took = trio.current_time() - began
            await fake.connections[0].done.wait()
            fake.check()
    assert finals(session.events) == []
    assert fake.connections[0].controls == ["CloseStream"]
    assert fake.connections[0].closed_by == "client"
    # 4.4 s of audio, then the close timeout, then a quick close handshake.
    assert 4.4 + 2.0 - 0.01 <= took < 4.4 + 2.0 + 0.5


async def test_injected_latency_delays_results(autojump_clock):
    async def final_time(latency: float) -> float:
        async with open_fake_deepgram(
            script=SCRIPT, sample_rate=RATE, result_latency_s=latency
        ) as fake:
            began = trio.current_time()
            session = await transcribe(DeepgramStt(settings_for(fake), RATE), frames(SPEECH))
        index = session.events.index(finals(session.events)[0])
        return session.times[index] - began

    with trio.fail_after(LIMIT):
        fast = await final_time(0.0)
        slow = await final_time(0.18)
    assert slow - fast == pytest.approx(0.18, abs=0.021)


async def test_cancel_with_a_server_that_never_answers_the_close_is_bounded(
    nursery, autojump_clock
):
    """A server that accepts the socket, then reads on but never answers our close
    frame: the session still ends, after the goodbye timeout."""
    closes_seen = []

    async def deaf_server(stream: trio.SocketStream) -> None:
        ws = WSConnection(ConnectionType.SERVER)
        while data := await stream.receive_some():
            ws.receive_data(data)
            for event in ws.events():
                if isinstance(event, Request):
                    await stream.send_all(ws.send(AcceptConnection()))
                elif isinstance(event, CloseConnection):
                    closes_seen.append(event.code)  # and never answered

    serve = functools.partial(trio.serve_tcp, deaf_server, 0, host="127.0.0.1")
    (listener,) = await nursery.start(serve)
    port = listener.socket.getsockname()[1]
    stt = DeepgramStt(DeepgramSettings(api_key="k", url=f"ws://127.0.0.1:{port}/v1/listen"), RATE)
    audio_in, audio_out = trio.open_memory_channel[bytes](10)
    events_in, _events_out = trio.open_memory_channel[Any](10)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as inner:
            await inner.start(stt.run, audio_out, events_in)
            await audio_in.send(bytes(FRAME))
            await trio.sleep(0.5)
            cancelled_at = trio.current_time()
            inner.cancel_scope.cancel()
    assert closes_seen == [1000]
    assert trio.current_time() - cancelled_at == pytest.approx(deepgram._GOODBYE_S, abs=0.01)
    audio_in.close()
