"""The STT uplink (``SttFeed``): batches for a session that asks for them.

In virtual time: a caller frame every 20 ms goes to the feed as the reader's hook
would hand it over; a stub session records each message it is woken for.
"""

from __future__ import annotations

import math

import trio

from agent.conversation.sttfeed import SttFeed
from agent.providers.stt.uplink import UplinkBatching

RATE = 8000
FRAME_BYTES = 320  # 20 ms at 8 kHz, 16-bit


def frame(i: int) -> bytes:
    return i.to_bytes(2, "little") * (FRAME_BYTES // 2)


class StubStt:
    """Records each message (one wake-up of its reader) and when ``finalize`` /
    ``caller_pausing`` came relative to the audio handed over."""

    sample_rate = RATE

    def __init__(self, uplink: UplinkBatching | None, *, stall: bool = False) -> None:
        if uplink is not None:
            self.uplink = uplink
        self.stall = stall
        self.messages: list[tuple[float, bytes]] = []
        self.feed: SttFeed | None = None
        self.finalized_after: list[int] = []  # the feed's to_stt when finalize came
        self.pausing_calls = 0

    def finalize(self) -> None:
        assert self.feed is not None
        self.finalized_after.append(self.feed.to_stt)

    def caller_pausing(self) -> None:
        self.pausing_calls += 1

    async def run(self, audio, out, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        if self.stall:
            await trio.sleep_forever()  # never reads: a stalled provider
        async with audio:
            async for pcm in audio:
                self.messages.append((trio.current_time(), pcm))


BATCHING = UplinkBatching(batch_s=0.1, pause_window_s=0.71)


async def opened(stt: StubStt, nursery: trio.Nursery, buffer: int = 50) -> SttFeed:
    feed = SttFeed(stt, "talk-over", buffer)
    stt.feed = feed
    await feed.open(nursery, caller_speaking=False)
    return feed


async def talk(feed: SttFeed, first: int, count: int) -> None:
    for i in range(first, first + count):
        await trio.sleep(0.02)
        feed.audio(frame(i), trio.current_time())


def joined(stt: StubStt) -> bytes:
    return b"".join(pcm for _, pcm in stt.messages)


async def test_a_batching_session_is_woken_once_per_batch_with_every_frame_in_order(
    autojump_clock,
):
    stt = StubStt(BATCHING)
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery)
        await talk(feed, 0, 50)  # 1 s of talk
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [len(pcm) for _, pcm in stt.messages] == [5 * FRAME_BYTES] * 10
    assert joined(stt) == b"".join(frame(i) for i in range(50))
    assert feed.to_stt == 50 and feed.batches == 10 and feed.dropped == 0
    # Each batch left with the frame that completed it: no added wait.
    assert [round(t, 3) for t, _ in stt.messages] == [round(0.1 * (k + 1), 3) for k in range(10)]


class PushedStt(StubStt):
    """A session that takes audio directly (``push_audio``) and hears the VAD's
    speech starts (``caller_speaking``), as Deepgram's does."""

    def __init__(self, uplink: UplinkBatching | None) -> None:
        super().__init__(uplink)
        self.speaking_after: list[int] = []  # the feed's to_stt when caller_speaking came

    def push_audio(self, pcm: bytes) -> None:
        self.messages.append((trio.current_time(), pcm))

    def caller_speaking(self) -> None:
        assert self.feed is not None
        self.speaking_after.append(self.feed.to_stt)

    async def run(self, audio, out, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        async with audio:
            async for pcm in audio:
                raise AssertionError(f"{len(pcm)} bytes came on the channel")


async def test_a_session_that_takes_audio_directly_gets_each_frame_and_the_vad(
    autojump_clock,
):
    # It batches by itself (Deepgram's AudioBatcher): the feed gathers nothing.
    stt = PushedStt(BATCHING)
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery)
        feed.caller_speaking()
        await talk(feed, 0, 7)
        feed.caller_pausing(trio.current_time())
        await talk(feed, 7, 3)
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [len(pcm) for _, pcm in stt.messages] == [FRAME_BYTES] * 10
    assert joined(stt) == b"".join(frame(i) for i in range(10))
    assert feed.to_stt == 10 and feed.batches == 10 and feed.dropped == 0
    assert stt.speaking_after == [0] and stt.pausing_calls == 1
    # Handed over in the instant of its frame (no task between).
    assert [round(t, 3) for t, _ in stt.messages] == [round(0.02 * k, 3) for k in range(1, 11)]


async def test_a_session_without_caller_speaking_is_not_told():
    feed = SttFeed(StubStt(BATCHING), "talk-over", 50)
    feed.caller_speaking()  # nothing to call: no error
    assert feed.to_stt == 0


async def test_a_session_without_uplink_gets_every_frame_as_it_comes(autojump_clock):
    stt = StubStt(None)
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery)
        await talk(feed, 0, 12)
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [pcm for _, pcm in stt.messages] == [frame(i) for i in range(12)]
    assert feed.batches == 12


async def test_a_pause_flushes_at_once_then_frames_go_one_by_one_for_the_window(autojump_clock):
    stt = StubStt(BATCHING)
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery)
        await talk(feed, 0, 7)  # one batch of 5, two frames waiting
        paused_at = trio.current_time()
        feed.caller_pausing(paused_at)
        assert stt.pausing_calls == 1 and feed.to_stt == 7  # the two went at once
        await talk(feed, 7, 35 + 10)  # the 0.71 s window, then batches again
        feed.flush()
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    sizes = [len(pcm) for _, pcm in stt.messages]
    assert sizes[:2] == [5 * FRAME_BYTES, 2 * FRAME_BYTES]
    in_window = [t for t, pcm in stt.messages[2:] if t < paused_at + BATCHING.pause_window_s]
    assert len(in_window) == 35 and sizes[2:37] == [FRAME_BYTES] * 35
    assert sizes[37:] == [5 * FRAME_BYTES, 5 * FRAME_BYTES]  # batched again after it
    assert joined(stt) == b"".join(frame(i) for i in range(52))


async def test_finalize_comes_after_the_audio_gathered_so_far(autojump_clock):
    stt = StubStt(BATCHING)
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery)
        await talk(feed, 0, 3)
        assert feed.to_stt == 0  # still gathering
        feed.finalize()
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert stt.finalized_after == [3]
    assert joined(stt) == b"".join(frame(i) for i in range(3))


async def test_a_late_batch_goes_with_the_next_frame_once_it_is_batch_s_old(autojump_clock):
    stt = StubStt(UplinkBatching(batch_s=0.1, pause_window_s=0.7))
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery)
        for i, gap in enumerate([0.02, 0.05, 0.06]):  # the reader fell behind
            await trio.sleep(gap)
            feed.audio(frame(i), trio.current_time())
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    assert [len(pcm) for _, pcm in stt.messages] == [3 * FRAME_BYTES]


async def test_the_released_start_of_a_sentence_goes_first_in_batches(autojump_clock):
    stt = StubStt(BATCHING)
    async with trio.open_nursery() as nursery:
        feed = SttFeed(stt, "talk-over", 50)
        stt.feed = feed
        for i in range(40):  # 0.8 s held while the greeting plays, caller speaking
            feed.audio(frame(i), 0.02 * (i + 1))
        feed.consent.speech_started(0.5)
        await feed.open(nursery, caller_speaking=True)
        released = feed.consent.released
        assert released == 30  # frames ending after the onset minus the 0.3 s pre-roll
        await talk(feed, 40, 5)
        await trio.sleep(0.01)
        nursery.cancel_scope.cancel()
    first = 40 - released
    assert joined(stt) == b"".join(frame(i) for i in range(first, 45))
    assert max(len(pcm) for _, pcm in stt.messages) == 5 * FRAME_BYTES


async def test_a_stalled_session_costs_bounded_memory_and_counts_what_was_dropped(
    caplog, autojump_clock
):
    stt = StubStt(BATCHING, stall=True)
    async with trio.open_nursery() as nursery:
        feed = await opened(stt, nursery, buffer=50)
        await talk(feed, 0, 60 * 50)  # a minute of talk nobody reads
        nursery.cancel_scope.cancel()
    room = 50 + feed.consent.ring_frames_max  # frames, as before batching
    queued = feed.to_stt
    assert queued == math.ceil(room / 5) * 5  # the channel holds about `room` frames
    assert feed.dropped == 60 * 50 - queued
    feed.report_dropped("c1")
    lines = [r.getMessage() for r in caplog.records if r.name == "agent.conversation.sttfeed"]
    seconds = (60 * 50 - queued) * 0.02
    assert lines == [
        "stt: the session is not taking the caller's audio; dropping it",  # once
        f"call c1: {seconds:.1f} s of caller audio never reached the STT",
    ]
