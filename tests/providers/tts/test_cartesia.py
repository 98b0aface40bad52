"""CartesiaTts against the wire-faithful fake over loopback (real time, bounded)."""

from __future__ import annotations

import gc

import pytest
import trio

from agent.base.errors import (
    ProviderConnectError,
    ProviderError,
    ProviderStatusError,
    ProviderTimeout,
)
from agent.base.events import AudioChunk
from agent.providers.protocols import TextToSpeech
from agent.providers.tts.cartesia import CartesiaSettings, CartesiaTts
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.tone_text import decode_tones
from tests.providers.tts.rig import speak

LIMIT = 5  # seconds; every loopback test is bounded


def settings_for(fake: FakeCartesia, **overrides) -> CartesiaSettings:
    values = {"api_key": "test-key", "voice_id": "voice-1", "url": fake.url}
    values.update(overrides)
    return CartesiaSettings(**values)


@pytest.fixture
async def fake(nursery):
    fake = await nursery.start(FakeCartesia().serve)
    yield fake
    assert fake.violations == []


@pytest.fixture
async def start_tts(fake):
    """Start a CartesiaTts on the fake; its run() ends before the fake stops."""
    async with trio.open_nursery() as nursery:

        async def start(sample_rate: int = 8000, **overrides) -> CartesiaTts:
            tts = CartesiaTts(settings_for(fake, **overrides), sample_rate=sample_rate)
            await nursery.start(tts.run)
            return tts

        yield start
        nursery.cancel_scope.cancel()


@pytest.fixture
async def tts(start_tts):
    return await start_tts()


def pcm_of(chunks: list[AudioChunk]) -> bytes:
    return b"".join(chunk.pcm for chunk in chunks)


def count_tasks() -> int:
    def walk(task) -> int:
        return 1 + sum(walk(child) for n in task.child_nurseries for child in n.child_tasks)

    return walk(trio.lowlevel.current_root_task())


async def test_streaming_happy_path_speaks_the_text_with_alignment(tts, fake):
    fragments = ["Hello", " there,", " thanks for", " calling", " Acme", " Plumbing."]
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, fragments)
    text = "".join(fragments)
    assert isinstance(tts, TextToSpeech)
    assert decode_tones(pcm_of(chunks)) == text
    # Word timestamps become per-chunk text that concatenates back to the transcript.
    assert "".join(chunk.text for chunk in chunks) == text
    assert all(len(chunk.pcm) % 2 == 0 for chunk in chunks)
    (context,) = fake.contexts.values()
    assert [piece for _, piece, _ in context.fragments] == [*fragments, ""]
    assert [more for _, _, more in context.fragments] == [True] * len(fragments) + [False]
    assert context.done_sent


async def test_each_chunk_claims_only_words_it_finished(fake, tts):
    fake.timestamps_after_audio = True
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["one two three four five"])
    heard_pcm = b""
    for chunk in chunks:
        heard_pcm += chunk.pcm
        claimed = "".join(c.text for c in chunks[: chunks.index(chunk) + 1]).strip()
        # Never claim more text than the audio played so far actually spoke.
        assert decode_tones(heard_pcm).startswith(claimed)
    assert "".join(chunk.text for chunk in chunks) == "one two three four five"


async def test_first_fragment_is_sent_before_the_llm_has_finished(tts, fake):
    text_send, text_receive = trio.open_memory_channel[str](0)
    out_send, out_receive = trio.open_memory_channel[AudioChunk](1000)
    produced: dict[int, float] = {}
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(tts.speak, text_receive, out_send)
            async with text_send:
                for number, fragment in enumerate(["Sure,", " one", " moment."], start=1):
                    await text_send.send(fragment)
                    produced[number] = trio.current_time()
                    if number == 1:
                        # A client that waits for the whole reply deadlocks here.
                        await fake.wait_until(lambda: len(fake.contexts) == 1)
                    await trio.sleep(0.05)
            pcm = b"".join([chunk.pcm async for chunk in out_receive])
    (context,) = fake.contexts.values()
    first_arrival = context.fragments[0][0]
    assert context.fragments[0][1] == "Sure,"
    assert first_arrival < produced[3]
    assert decode_tones(pcm) == "Sure, one moment."


async def test_one_socket_is_reused_across_turns(tts, fake):
    with trio.fail_after(LIMIT):
        first = await speak(tts, ["First reply."])
        second = await speak(tts, ["Second ", "reply."])
    assert decode_tones(pcm_of(first)) == "First reply."
    assert decode_tones(pcm_of(second)) == "Second reply."
    assert len(fake.connections) == 1
    contexts = list(fake.connections[0].contexts)
    assert len(contexts) == 2 and contexts[0] != contexts[1]
    assert tts.statistics().connections_opened == 1


async def test_barge_in_cancels_the_context_and_drops_late_chunks(fake, tts):
    fake.chunk_gap = 0.01
    fake.late_chunks_after_cancel = 3
    fake.chars_per_chunk = 2
    tasks_before = count_tasks()
    long_text = "This is a long answer that the caller will interrupt."
    out_send, out_receive = trio.open_memory_channel[AudioChunk](1000)
    text_send, text_receive = trio.open_memory_channel[str](10)
    with trio.fail_after(LIMIT):
        async with trio.open_nursery() as turn:
            turn.start_soon(tts.speak, text_receive, out_send)
            await text_send.send(long_text)
            await text_send.aclose()
            first = await out_receive.receive()  # audio is playing
            turn.cancel_scope.cancel()  # barge-in
        (context_id, context) = next(iter(fake.contexts.items()))
        await fake.wait_until(lambda: context.chunks_after_cancel >= 3)
        await trio.sleep(0.05)  # let the late chunks reach the client's reader
    assert context.cancelled_at is not None
    assert not context.done_sent
    received = [first, *[chunk async for chunk in out_receive]]
    heard = decode_tones(pcm_of(received))
    assert heard and long_text.startswith(heard) and len(heard) < len(long_text)
    # The chunks sent after the cancel were dropped by the client, never forwarded.
    dropped = tts.statistics().late_chunks_dropped
    assert dropped >= context.chunks_after_cancel == 3
    assert len(received) + dropped <= context.chunks_sent
    assert tts.statistics().cancels_sent == 1
    assert count_tasks() == tasks_before
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Yes?"])
    assert decode_tones(pcm_of(chunks)) == "Yes?"
    assert len(fake.connections) == 1
    assert len(fake.contexts) == 2 and context_id in fake.contexts
    gc.collect()


@pytest.mark.parametrize(("status", "retryable"), [(500, True), (429, True), (400, False)], ids=str)
async def test_context_error_maps_to_status_error(tts, fake, status, retryable):
    fake.error_context = 1
    fake.error_status = status
    with trio.fail_after(LIMIT), pytest.raises(ProviderStatusError) as caught:
        await speak(tts, ["Hello."])
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    # The socket survives a context error: the next turn works on it.
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Again."])
    assert decode_tones(pcm_of(chunks)) == "Again."
    assert len(fake.connections) == 1


async def test_sunsetted_model_is_not_retryable(tts, fake):
    fake.error_context = 1
    fake.error_status = 503
    fake.error_code = "model_sunsetted"
    with trio.fail_after(LIMIT), pytest.raises(ProviderStatusError) as caught:
        await speak(tts, ["Hello."])
    assert caught.value.retryable is False


@pytest.mark.parametrize(("status", "retryable"), [(401, False), (500, True)], ids=str)
async def test_refused_handshake_is_mapped_once(fake, start_tts, status, retryable):
    fake.reject_status = status
    with trio.fail_after(LIMIT), pytest.raises(ProviderStatusError) as caught:
        await start_tts()
    assert caught.value.status == status
    assert caught.value.retryable is retryable
    assert "HTTP" in str(caught.value)
    gc.collect()  # a leaked socket would warn here


async def test_wrong_api_key_is_refused_by_the_fake(fake, start_tts):
    with trio.fail_after(LIMIT), pytest.raises(ProviderStatusError) as caught:
        await start_tts(api_key="wrong")
    assert caught.value.status == 401 and not caught.value.retryable
    assert "Authorization" in fake.violations.pop()


async def test_nothing_listening_is_a_retryable_connect_error(nursery):
    with trio.socket.socket() as sock:
        await sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: refused
        tts = CartesiaTts(
            CartesiaSettings(api_key="k", voice_id="v", url=f"ws://127.0.0.1:{port}/tts/websocket")
        )
        with trio.fail_after(LIMIT), pytest.raises(ProviderConnectError) as caught:
            await nursery.start(tts.run)
    assert caught.value.retryable


async def test_dropped_socket_fails_the_turn_and_is_reopened(tts, fake):
    fake.close_after_chunks = 2
    with trio.fail_after(LIMIT), pytest.raises(ProviderError) as caught:
        await speak(tts, ["This turn is cut off by a dropped socket."])
    assert caught.value.retryable
    assert not isinstance(caught.value, ProviderStatusError)
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Back again."])
    assert decode_tones(pcm_of(chunks)) == "Back again."
    assert len(fake.connections) == 2
    assert tts.statistics().connections_opened == 2


async def test_unusable_message_is_logged_once_and_skipped_keeping_the_socket(tts, fake, caplog):
    # Issue 20: one garbled frame used to close the shared socket (1002) and fail
    # every live turn of the call.
    fake.malformed_after_chunks = 1
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Garbled reply here."])
        fake.malformed_after_chunks = 1
        again = await speak(tts, ["Fine now."])
    assert decode_tones(pcm_of(chunks)) == "Garbled reply here."
    assert decode_tones(pcm_of(again)) == "Fine now."
    assert len(fake.connections) == 1 and fake.connections[0].closed_at is None
    assert tts.statistics().unusable_messages == 2
    warnings = [r for r in caplog.records if "cannot use" in r.getMessage()]
    assert len(warnings) == 1 and "not JSON" in warnings[0].getMessage()


async def test_optional_fields_may_be_missing(fake, start_tts):
    # word_timestamps is optional in the SDK's types: a timestamps message without
    # it used to raise and close the socket with 1002.
    fake.sparse = True
    tts = await start_tts()
    text = "Sparse replies still speak every word."
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, [text])
    assert fake.timestamps_without_words > 0
    assert decode_tones(pcm_of(chunks)) == text
    assert "".join(chunk.text for chunk in chunks) == text
    assert tts.statistics().unusable_messages == 0
    assert fake.connections[0].closed_at is None


async def test_stalled_server_times_out(fake, start_tts):
    fake.stall = True
    tts = await start_tts(response_timeout_s=0.2)
    with trio.fail_after(LIMIT), pytest.raises(ProviderTimeout) as caught:
        await speak(tts, ["Anyone there?"])
    assert caught.value.retryable
    context = next(iter(fake.contexts.values()))
    with trio.fail_after(LIMIT):
        await fake.wait_until(lambda: context.cancelled_at is not None)


@pytest.mark.parametrize(
    ("version", "voice"),
    [("2026-08-14", "voice-1"), ("2026-03-01", {"mode": "id", "id": "voice-1"})],
)
async def test_voice_shape_follows_the_pinned_version(fake, start_tts, version, voice):
    # Issue 20: the client pinned 2026-08-14 but sent the older {"mode": "id"} voice,
    # which the fake (like, possibly, the service) refuses under that version.
    tts = await start_tts(version=version)
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Versioned voice."])
    assert decode_tones(pcm_of(chunks)) == "Versioned voice."
    (context,) = fake.contexts.values()
    assert context.settings is not None and context.settings["voice"] == voice
    assert fake.connections[0].version == version


async def test_empty_reply_opens_no_context(tts, fake):
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["", "  "])
    assert chunks == []
    assert fake.contexts == {}


async def test_custom_buffering_keeps_words_whole(fake, start_tts):
    tts = await start_tts(max_buffer_delay_ms=0)
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Hel", "lo th", "ere, ", "friend", "."])
    (context,) = fake.contexts.values()
    assert [piece for _, piece, _ in context.fragments] == ["Hello ", "there, ", "friend.", ""]
    assert decode_tones(pcm_of(chunks)) == "Hello there, friend."


async def test_speak_at_16k_asks_for_and_gets_16k(fake, start_tts):
    tts = await start_tts(sample_rate=16000)
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Wide band."])
    assert decode_tones(pcm_of(chunks), 16000) == "Wide band."
    (context,) = fake.contexts.values()
    assert context.sample_rate == 16000
