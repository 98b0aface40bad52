"""FallbackTts: the next voice takes over a failed turn (in virtual time), and the
real Cartesia client falling back to a second voice over loopback."""

from __future__ import annotations

import pytest
import trio

from agent.base.errors import ConfigError, ProviderError, ProviderStatusError
from agent.base.events import AudioChunk
from agent.providers.protocols import TextToSpeech
from agent.providers.tts.cartesia import CartesiaSettings, CartesiaTts
from agent.providers.tts.fallback import FallbackTts, replay_after
from tests.fakes.cartesia import FakeCartesia
from tests.fakes.inmem import ToneTts
from tests.fakes.tone_text import decode_tones
from tests.providers.tts.rig import speak_all as speak

LIMIT = 10


class Voice:
    """A voice that says each fragment as one chunk ("pcm" = the text's bytes),
    and fails as told: at start, or once it has sent ``fail_after`` chunks."""

    def __init__(
        self,
        name: str,
        *,
        fail_at_start: bool = False,
        fail_after: int | None = None,
        aligned: bool = True,
        sample_rate: int = 8000,
    ) -> None:
        self.name = name
        self.sample_rate = sample_rate
        self.fail_at_start = fail_at_start
        self.fail_after = fail_after
        self.aligned = aligned
        self.started = False
        self.heard: list[list[str]] = []  # the fragments of each speak
        self.cancelled = 0

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        if self.fail_at_start:
            raise ProviderStatusError(self.name, "handshake refused", status=503, retryable=True)
        self.started = True
        task_status.started()
        await trio.sleep_forever()

    async def speak(self, text, out) -> None:
        fragments: list[str] = []
        self.heard.append(fragments)
        try:
            async with text, out:
                async for fragment in text:
                    if self.fail_after is not None and len(fragments) >= self.fail_after:
                        raise ProviderError(self.name, "connection closed mid-turn", retryable=True)
                    fragments.append(fragment)
                    await trio.sleep(0.01)
                    pcm = f"{self.name}:{fragment}|".encode()
                    await out.send(AudioChunk(pcm, fragment if self.aligned else ""))
        except trio.Cancelled:
            self.cancelled += 1
            raise


def said(chunks: list[AudioChunk]) -> str:
    return b"".join(chunk.pcm for chunk in chunks).decode()


@pytest.fixture
async def running(nursery):
    async def start(*voices) -> FallbackTts:
        tts = FallbackTts(voices)
        await nursery.start(tts.run)
        return tts

    return start


def test_replay_after_the_heard_text():
    assert replay_after("Hello there, how are you?", "Hello there,") == " how are you?"
    assert replay_after(" Hello there.", "Hello ") == " there."  # spacing may differ
    assert replay_after("Hello there.", "Hello there.") == ""
    assert replay_after("Hello there.", "Goodbye") is None
    assert replay_after("Hi", "Hi there") is None


def test_needs_voices_of_one_rate():
    with pytest.raises(ConfigError, match="at least one"):
        FallbackTts([])
    with pytest.raises(ConfigError, match="sample rate"):
        FallbackTts([Voice("a"), Voice("b", sample_rate=16000)])
    assert isinstance(FallbackTts([Voice("a")]), TextToSpeech)


async def test_a_healthy_first_voice_speaks_and_the_second_is_never_started(
    running, autojump_clock
):
    a, b = Voice("a"), Voice("b")
    tts = await running(a, b)
    chunks = await speak(tts, ["Hello", " there."])
    assert said(chunks) == "a:Hello|a: there.|"
    assert not b.started and tts.switches == 0


async def test_failure_before_any_audio_is_replaced_by_the_next_voice(running, autojump_clock):
    a, b = Voice("a", fail_after=0), Voice("b")
    tts = await running(a, b)
    chunks = await speak(tts, ["Hello", " there", " friend."])
    # The caller hears only the second voice, and all of the text.
    assert said(chunks).startswith("b:") and "a:" not in said(chunks)
    assert "".join(b.heard[0]) == "Hello there friend."
    assert "".join(c.text for c in chunks) == "Hello there friend."
    assert tts.current == 1 and tts.switches == 1
    # The call stays on the voice that worked.
    assert said(await speak(tts, ["Next turn."])) == "b:Next turn.|"
    assert len(a.heard) == 1


async def test_failure_mid_turn_resumes_after_what_was_heard(running, autojump_clock):
    a, b = Voice("a", fail_after=2), Voice("b")
    tts = await running(a, b)
    chunks = await speak(tts, ["One", " two", " three", " four."])
    assert said(chunks).startswith("a:One|a: two|b: three")
    heard_by_b = "".join(b.heard[0])
    assert heard_by_b == " three four."
    assert "".join(c.text for c in chunks) == "One two three four."


async def test_without_alignment_a_mid_turn_failure_is_raised(running, autojump_clock):
    a, b = Voice("a", fail_after=1, aligned=False), Voice("b")
    tts = await running(a, b)
    with pytest.raises(ProviderError) as caught:
        await speak(tts, ["One", " two."])
    assert "without alignment" in str(caught.value.__notes__)
    assert b.heard == []


async def test_a_voice_refused_at_call_start_is_skipped(running, autojump_clock):
    a, b = Voice("a", fail_at_start=True), Voice("b")
    tts = await running(a, b)
    assert tts.current == 1 and b.started
    assert said(await speak(tts, ["Hi."])) == "b:Hi.|"


async def test_when_every_voice_fails_the_last_error_is_raised_with_the_others(
    running, autojump_clock
):
    a, b = Voice("a", fail_after=0), Voice("b", fail_after=0)
    tts = await running(a, b)
    with pytest.raises(ProviderError, match=r"^b:") as caught:
        await speak(tts, ["Hello."])
    assert any("a: connection closed" in note for note in caught.value.__notes__)


async def test_all_refused_at_start_fails_run(nursery, autojump_clock):
    tts = FallbackTts([Voice("a", fail_at_start=True), Voice("b", fail_at_start=True)])
    with pytest.raises(ProviderError, match=r"^b:"):
        await nursery.start(tts.run)


async def test_cancelling_a_turn_cancels_only_that_turn(running, autojump_clock):
    a, b = Voice("a"), Voice("b")
    tts = await running(a, b)
    text_send, text_recv = trio.open_memory_channel[str](10)
    out_send, out_recv = trio.open_memory_channel[AudioChunk](10)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(tts.speak, text_recv, out_send)
        await text_send.send("Long")
        await out_recv.receive()
        nursery.cancel_scope.cancel()  # barge-in
    assert a.cancelled == 1 and tts.switches == 0 and not b.started
    assert said(await speak(tts, ["Again."])) == "a:Again.|"


async def test_cartesia_context_error_falls_back_to_the_second_voice(nursery):
    """Loopback: the real Cartesia client gets a 500 for its context; the turn is
    spoken by the second voice and the caller hears all of it."""
    fake = await nursery.start(FakeCartesia().serve)
    fake.error_context = 1
    settings = CartesiaSettings(api_key="test-key", voice_id="voice-1", url=fake.url)
    backup = ToneTts(first_audio_s=0.0)
    tts = FallbackTts([CartesiaTts(settings), backup])
    await nursery.start(tts.run)
    with trio.fail_after(LIMIT):
        chunks = await speak(tts, ["Your engineer", " arrives at ten."])
    assert decode_tones(b"".join(c.pcm for c in chunks)) == "Your engineer arrives at ten."
    assert tts.current == 1 and backup.speaks[0].text == "Your engineer arrives at ten."
    assert fake.violations == []


async def test_audio_reaches_out_from_the_voices_own_task(running, autojump_clock):
    """No forwarding task between the voice and playout (one trip round the run loop
    less per chunk): the voice's send returns only when playout takes the chunk; and
    the next voice still resumes after what the failed one's audio covered."""
    out_send, out_recv = trio.open_memory_channel[AudioChunk](0)
    handed_over_at: list[float] = []

    class Probe(Voice):
        async def speak(self, text, out) -> None:
            async with text, out:
                async for fragment in text:
                    await out.send(AudioChunk(fragment.encode(), fragment))
                    handed_over_at.append(trio.current_time())
                    raise ProviderError(self.name, "gone after one chunk", retryable=True)

    async def playout(started_at: float) -> None:
        async with out_recv:
            await trio.sleep(1.0)  # playout is busy: nothing holds the chunk meanwhile
            played.extend([(trio.current_time() - started_at, c.pcm) async for c in out_recv])

    b = Voice("b")
    tts = await running(Probe("a"), b)
    text_send, text_recv = trio.open_memory_channel[str](10)
    for fragment in ("One. ", "Two."):
        text_send.send_nowait(fragment)
    text_send.close()
    played: list[tuple[float, bytes]] = []
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(playout, start)
        await tts.speak(text_recv, out_send)
    assert [round(t - start, 6) for t in handed_over_at] == [1.0]
    assert b.heard == [[" Two."]]  # what the first voice's audio covered is not said again
    assert [pcm for _, pcm in played] == [b"One. ", b"b: Two.|"]


async def test_a_voice_sending_after_closing_its_channel_is_told(running):
    class Late(Voice):
        async def speak(self, text, out) -> None:
            async with text, out:
                pass
            await out.send(AudioChunk(b"x", "x"))

    tts = await running(Late("a"))
    text_send, text_recv = trio.open_memory_channel[str](10)
    text_send.close()
    out_send, _ = trio.open_memory_channel[AudioChunk](10)
    with pytest.raises(trio.ClosedResourceError, match="audio channel is closed"):
        await tts.speak(text_recv, out_send)
