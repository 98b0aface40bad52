"""The outgoing audio's policy, pure: the replay ledger and the batcher.

The batcher is driven by ``simulate``, a model of the session's pump and sender
without trio: the pump hands over 20 ms frames at given times and wakes the
sender when the batcher says so (or when its alarm rings); the sender sends
what is due at once and sleeps until the batcher's deadline.
"""

from __future__ import annotations

import math

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.providers.stt.deepgram_batch import (
    PAUSE_LEAD_MS,
    PAUSE_MARGIN_MS,
    AudioBatcher,
    AudioLedger,
)

RATE = 8000
FRAME = bytes(320)  # 20 ms at 8 kHz


def batcher(
    batch_ms: int = 100, endpointing_ms: int = 400, *, talking: bool = True
) -> AudioBatcher:
    """A stream's batcher; ``talking``: the VAD has heard the caller start."""
    policy = AudioBatcher.for_stream(RATE, batch_ms, endpointing_ms)
    if talking:
        policy.speaking(0.0)
    return policy


@attrs.define
class Run:
    messages: list[tuple[float, int]]  # (when, bytes)
    wakes: int  # times the sender woke up

    @property
    def sizes(self) -> list[int]:
        return [size for _, size in self.messages]

    @property
    def times(self) -> list[float]:
        return [round(when, 3) for when, _ in self.messages]


def simulate(
    policy: AudioBatcher,
    frames: list[float],
    pausing: tuple[float, ...] = (),
    speaking: tuple[float, ...] = (),
    turn_ended: tuple[float, ...] = (),
) -> Run:
    """Frames, VAD reports and the STT's end-of-turn finals at the given times (a
    frame first when they coincide, as the VAD hears the frame it is handed)."""
    ledger = AudioLedger(RATE, 60.0)
    events = sorted(
        [(t, 0, "frame") for t in frames]
        + [(t, 1, "pausing") for t in pausing]
        + [(t, 1, "speaking") for t in speaking]
        + [(t, 1, "turn_ended") for t in turn_ended]
    )
    run = Run([], 0)
    sender_alarm = math.inf

    def sender(now: float) -> None:
        nonlocal sender_alarm
        run.wakes += 1
        while policy.due(ledger.unsent_bytes, now):
            message = ledger.next_unsent(policy.max_message_bytes)
            assert message is not None
            ledger.mark_sent()
            policy.sent(ledger.unsent_bytes, now)
            run.messages.append((now, len(message)))
        sender_alarm = policy.sleep_until(ledger.unsent_bytes, math.inf)

    while True:
        pump_alarm = policy.pump_alarm_at(ledger.unsent_bytes)
        next_event = events[0][0] if events else math.inf
        alarm = min(pump_alarm, sender_alarm)
        if alarm == next_event == math.inf:
            return run
        if alarm < next_event:
            if pump_alarm <= sender_alarm:
                policy.pump_alarm_rang()
            sender(alarm)
            continue
        now, _, kind = events.pop(0)
        if kind == "pausing":
            policy.pausing(now)
            sender(now)
        elif kind == "speaking":
            policy.speaking(now)
            if policy.due(ledger.unsent_bytes, now):
                sender(now)
        elif kind == "turn_ended":
            policy.turn_ended(now)
        else:
            ledger.push(FRAME)
            if policy.added(ledger.unsent_bytes, now):
                sender(now)


def talking(start: float, seconds: float) -> list[float]:
    """Frame arrival times: one every 20 ms."""
    return [round(start + 0.02 * i, 3) for i in range(round(seconds / 0.02))]


# --- the batcher --------------------------------------------------------------------


def test_sizes_follow_the_stream():
    assert batcher(talking=False) == AudioBatcher(
        batch_bytes=1600,
        batch_s=0.1,
        max_message_bytes=4000,
        pause_window_s=0.7,
        quiet_bytes=3840,  # whole frames up to 250 ms: 240 ms
        quiet_s=0.24,
        pause_gather_s=(400 - PAUSE_LEAD_MS) / 1000,
    )
    wide = AudioBatcher.for_stream(16000, 250, 0)
    assert (wide.batch_bytes, wide.max_message_bytes, wide.pause_window_s) == (8000, 8000, 0.3)
    assert (wide.quiet_bytes, wide.pause_gather_s) == (8000, 0.0)
    # 20 ms is documented as every frame alone: in silence too.
    single = AudioBatcher.for_stream(RATE, 20, 400)
    assert (single.batch_bytes, single.quiet_bytes, single.quiet_s) == (320, 320, 0.02)


def test_talking_goes_in_batches_with_one_wake_each():
    run = simulate(batcher(), talking(0.0, 1.0))
    assert run.sizes == [1600] * 10
    # Sent when the fifth frame of each arrives.
    assert run.times == [round(0.08 + 0.1 * i, 3) for i in range(10)]
    assert run.wakes == 10


def test_twenty_ms_is_one_frame_per_message_as_before():
    run = simulate(batcher(batch_ms=20), talking(0.0, 0.2))
    assert run.sizes == [320] * 10 and run.times == talking(0.0, 0.2)


@pytest.mark.parametrize(
    ("frames", "sizes", "times"),
    [
        # Two frames, then nothing: they go when the first has waited batch_ms.
        ([0.0, 0.02], [640], [0.1]),
        # Frames stop after one batch and a bit: the bit goes batch_ms after it began.
        (talking(0.0, 0.14), [1600, 640], [0.08, 0.2]),
        # A late frame starts a batch of its own.
        ([0.0, 0.5], [320, 320], [0.1, 0.6]),
    ],
)
def test_audio_waits_at_most_one_batch_time(frames, sizes, times):
    run = simulate(batcher(), frames)
    assert run.sizes == sizes and run.times == times


def test_pausing_sends_what_waits_then_frame_by_frame_around_the_endpointing_time():
    # Three frames wait when the VAD hears the pause at 50 ms. Deepgram's 400 ms of
    # endpointing silence end at 0.45 s (earlier if it heard the speech end first):
    # frame by frame from 0.25 s (PAUSE_LEAD_MS before) to 0.75 s (PAUSE_MARGIN_MS
    # after); the silence before is gathered and goes with the first frame due.
    assert PAUSE_LEAD_MS == 200
    run = simulate(batcher(), talking(0.0, 1.2), pausing=(0.05,))
    assert run.messages[:2] == [(0.05, 960), (0.26, 11 * 320)]  # 0.06 .. 0.26
    in_window = [m for m in run.messages[2:] if m[0] < 0.75]
    assert [size for _, size in in_window] == [320] * 24  # 0.28 .. 0.74
    assert [round(t, 3) for t, _ in in_window] == talking(0.28, 0.48)
    # Then the caller is quiet: 240 ms messages (12 frames), the last frames
    # 240 ms after the first of them.
    after = Run(run.messages[2 + len(in_window) :], 0)
    assert after.sizes == [12 * 320, 10 * 320]
    assert after.times == [0.98, 1.24]


def test_the_window_ends_when_the_stt_ends_the_turn():
    # Deepgram's speech_final for the pause at 0.05 s arrives at 0.55 s: no
    # endpointing is left to time, frame by frame stops there.
    run = simulate(batcher(), talking(0.0, 1.0), pausing=(0.05,), turn_ended=(0.55,))
    single = [t for t, size in run.messages if size == 320]
    assert [round(t, 3) for t in single] == talking(0.28, 0.28)  # 0.28 .. 0.54
    assert run.sizes[-2:] == [12 * 320, 10 * 320]  # 0.56 .. 0.78, 0.8 .. 0.98
    assert run.times[-2:] == [0.78, 1.04]
    # A final that came before frame by frame would have begun for the last pause
    # is an earlier pause's: the window of the last pause stays.
    early = simulate(batcher(), talking(0.0, 1.0), pausing=(0.05,), turn_ended=(0.2,))
    assert [round(t, 3) for t, size in early.messages if size == 320] == talking(0.28, 0.48)


def test_talking_again_before_the_window_cancels_it():
    # A pause between words (0.1 s, loud again at 0.2 s): no frame-by-frame
    # sending; the silence gathered meanwhile goes at once (older than a talking
    # batch), then talking batches.
    run = simulate(batcher(), talking(0.0, 1.0), pausing=(0.1,), speaking=(0.2,))
    # The frame at 0.1 s (the last words) goes with the pause.
    assert run.messages[:3] == [(0.08, 1600), (0.1, 320), (0.2, 5 * 320)]
    assert run.sizes[3:] == [1600] * 7 + [1280]


def test_another_pause_while_frame_by_frame_extends_the_window():
    run = simulate(
        batcher(endpointing_ms=100), talking(0.0, 1.0), pausing=(0.0, 0.3), speaking=(0.2,)
    )
    # No lead to gather in (100 ms endpointing): frame by frame from the first pause;
    # talking again at 0.2 s does not stop it (Deepgram may not have heard it), the
    # pause at 0.3 s makes it last 0.4 s from there.
    single = [t for t, size in run.messages if size == 320]
    assert [round(t, 3) for t in single] == talking(0.0, 0.7)
    assert run.sizes[len(single) :] == [12 * 320, 3 * 320]


def test_the_caller_quiet_goes_in_240_ms_messages_and_talk_flushes_them():
    # Before any speech (the greeting playing): messages of 12 frames.
    run = simulate(batcher(talking=False), talking(0.0, 0.6), speaking=(0.34,))
    assert run.messages[0] == (0.22, 12 * 320)
    # The speech start at 0.34 s: the six frames since 0.24 s have waited
    # than a talking batch, they go at once; then 100 ms batches.
    assert run.messages[1] == (0.34, 6 * 320)
    assert run.sizes[2:] == [1600, 1600, 640] and run.times[2:] == [0.44, 0.54, 0.66]


def test_a_window_with_nothing_waiting_sends_nothing_by_itself():
    run = simulate(batcher(), [], pausing=(0.0,))
    assert run.messages == [] and run.wakes == 1


@pytest.mark.parametrize(
    ("unsent", "now", "flush", "due"),
    [
        (0, 9.0, True, False),  # nothing to send
        (320, 0.0, True, True),  # the end of the audio, or a Finalize waits
        (320, 0.0, False, False),  # one frame, just arrived
        (1600, 0.0, False, True),  # a whole batch
        (320, 0.1, False, True),  # the frame has waited batch_ms
    ],
)
def test_due(unsent, now, flush, due):
    policy = batcher()
    policy.added(320, 0.0)
    assert policy.due(unsent, now, flush=flush) is due


def test_a_replay_backlog_goes_at_once_in_capped_messages():
    ledger, policy = AudioLedger(RATE, 10.0), batcher()
    for i in range(50):  # a second of audio while the socket was down
        ledger.push(FRAME)
        policy.added(ledger.unsent_bytes, 0.02 * i)
    ledger.rewind()
    policy.rewound(ledger.unsent_bytes)
    sizes = []
    while policy.due(ledger.unsent_bytes, 1.0):
        message = ledger.next_unsent(policy.max_message_bytes)
        assert message is not None
        ledger.mark_sent()
        policy.sent(ledger.unsent_bytes, 1.0)
        sizes.append(len(message))
    # 250 ms is 4000 bytes: 12 whole frames a message, the tail straight after.
    assert sizes == [3840] * 4 + [640]
    assert ledger.unsent_bytes == 0 and policy.pump_alarm_at(0) == math.inf
    # A rewind with nothing to replay does not make the next frame urgent.
    ledger.acknowledge(1.0)
    ledger.rewind()
    policy.rewound(ledger.unsent_bytes)
    ledger.push(FRAME)
    assert not policy.added(ledger.unsent_bytes, 2.0)
    assert policy.pump_alarm_at(ledger.unsent_bytes) == pytest.approx(2.1)


@pytest.mark.parametrize("pause", [False, True])
def test_audio_that_came_during_a_slow_send_waits_for_its_own_batch(pause):
    # A busy agent: a send takes 50 ms, two frames come meanwhile. They are a new
    # batch, not late already as the message was (which sent them at once, a frame
    # or two at a time, while sends are slow); so are those after a pause's flush.
    ledger, policy = AudioLedger(RATE, 10.0), batcher()
    for i in range(5 if not pause else 3):
        ledger.push(FRAME)
        due = policy.added(ledger.unsent_bytes, 0.02 * i)
    if pause:
        policy.pausing(0.05)
    assert due or (pause and policy.due(ledger.unsent_bytes, 0.05))
    assert ledger.next_unsent(policy.max_message_bytes) is not None
    ledger.push(FRAME)
    policy.added(ledger.unsent_bytes, 0.1)
    ledger.push(FRAME)
    policy.added(ledger.unsent_bytes, 0.12)
    ledger.mark_sent()
    policy.sent(ledger.unsent_bytes, 0.13)
    assert ledger.unsent_bytes == 640 and not policy.due(640, 0.13)
    wait = 0.1 if not pause else 0.24  # talking, or the quiet gathering after a pause
    assert policy.sleep_until(640, math.inf) == pytest.approx(0.13 + wait)


def test_an_empty_frame_starts_no_batch():
    policy = batcher()
    assert not policy.added(0, 0.0)
    assert policy.pump_alarm_at(0) == math.inf
    assert not policy.added(320, 5.0)
    assert policy.pump_alarm_at(320) == pytest.approx(5.1)  # timed from the real frame


def test_the_sender_asleep_with_a_deadline_switches_the_pump_alarm_off():
    policy = batcher()
    policy.added(320, 0.0)
    assert policy.pump_alarm_at(320) == pytest.approx(0.1)
    assert policy.sleep_until(320, keepalive_at=4.0) == pytest.approx(0.1)
    assert policy.pump_alarm_at(320) == math.inf
    assert policy.sleep_until(0, keepalive_at=4.0) == 4.0


# --- the ledger: replay --------------------------------------------------------------------


def drain(ledger: AudioLedger, limit: int = 0) -> bytes:
    """Send everything unsent in messages of up to ``limit`` bytes (0: frame by frame)."""
    sent = b""
    while (message := ledger.next_unsent(limit)) is not None:
        sent += message
        ledger.mark_sent()
    return sent


def test_ledger_replays_from_the_last_final():
    ledger = AudioLedger(8000, 10.0)  # 16000 bytes a second
    for i in range(10):
        ledger.push(bytes([i]) * 1600)  # 100 ms each
    assert ledger.rewind() == 0.0
    assert len(drain(ledger)) == 16000
    ledger.acknowledge(0.35)  # covers frames 0-2 whole, frame 3 only partly
    ledger.push(b"\xff" * 1600)
    assert ledger.rewind() == pytest.approx(0.3)
    replay = drain(ledger)
    assert replay[:1600] == bytes([3]) * 1600 and len(replay) == 8 * 1600
    # The new connection's times are relative to 0.3 s: its 0.2 s is the call's 0.5 s.
    ledger.acknowledge(0.2)
    assert ledger.rewind() == pytest.approx(0.5)
    assert ledger.dropped_bytes == 0 and ledger.sent_bytes == 16000 + 8 * 1600


def test_ledger_position_tracks_the_next_frame():
    ledger = AudioLedger(8000, 10.0)
    ledger.push(b"\x01" * 320)
    ledger.push(b"\x02" * 320)
    assert ledger.position == 0
    ledger.next_unsent(0)
    ledger.mark_sent()
    assert ledger.position == 320
    ledger.acknowledge(0.02)
    assert ledger.position == 320
    ledger.rewind()
    assert ledger.position == 320


def test_ledger_bound_drops_sent_audio_first_then_unsent():
    ledger = AudioLedger(8000, 0.1)  # 1600 bytes
    ledger.push(b"a" * 800)
    drain(ledger)
    ledger.push(b"b" * 800)
    ledger.push(b"c" * 800)  # over: the sent "a" goes, nothing lost
    assert ledger.dropped_bytes == 0
    ledger.push(b"d" * 800)  # over again: unsent "b" goes, lost
    assert ledger.dropped_bytes == 800
    assert ledger.rewind() == pytest.approx(0.1)
    assert drain(ledger) == b"c" * 800 + b"d" * 800
    ledger.push(b"")
    assert ledger.pushed_bytes == 3200


@given(
    sizes=st.lists(st.integers(1, 400).map(lambda n: n * 2), min_size=1, max_size=40),
    acks=st.lists(st.floats(0, 1), max_size=5),
    limit=st.integers(0, 4000),
)
def test_ledger_never_loses_audio_within_its_bound(sizes, acks, limit):
    """Whatever was acknowledged plus the replay is exactly the audio, in order."""
    audio = b"".join(bytes([i % 251]) * size for i, size in enumerate(sizes))
    ledger = AudioLedger(8000, 60.0)
    for i, size in enumerate(sizes):
        ledger.push(bytes([i % 251]) * size)
    assert drain(ledger, limit) == audio
    for fraction in sorted(acks):
        ledger.acknowledge(fraction * len(audio) / 16000)
    start = ledger.rewind()
    replay = drain(ledger, limit)
    cut = round(start * 16000)
    assert audio[cut:] == replay


def test_ledger_message_is_whole_frames_up_to_the_limit():
    ledger = AudioLedger(8000, 10.0)
    for i in range(5):
        ledger.push(bytes([i]) * 320)
    assert ledger.next_unsent(1000) == bytes([0]) * 320 + bytes([1]) * 320 + bytes([2]) * 320
    ledger.mark_sent()
    assert ledger.position == 960 and ledger.unsent_bytes == 640
    assert ledger.next_unsent(100) == bytes([3]) * 320  # one frame at least
    ledger.mark_sent()
    assert ledger.next_unsent(0) == bytes([4]) * 320
    ledger.mark_sent()
    assert ledger.next_unsent(4000) is None and ledger.unsent_bytes == 0


def test_ledger_marks_by_position_when_the_buffer_moves_during_a_send():
    ledger = AudioLedger(8000, 0.1)  # 1600 bytes: five frames
    for i in range(5):
        ledger.push(bytes([i]) * 320)
    message = ledger.next_unsent(960)  # frames 0-2 are being written...
    assert message is not None and len(message) == 960
    ledger.push(b"\x05" * 320)  # ...when a frame comes and the oldest is pushed out
    ledger.mark_sent()
    # Frames 1 and 2 are sent, not 3: what comes next is frame 3.
    assert ledger.next_unsent(320) == b"\x03" * 320
    assert ledger.sent_bytes == 640 and ledger.dropped_bytes == 320


def test_the_caller_side_is_asked_for_the_same_batches_and_pause_window():
    batcher = AudioBatcher.for_stream(8000, batch_ms=100, endpointing_ms=400)
    uplink = batcher.uplink()
    assert uplink.batch_s == batcher.batch_s == 0.1
    assert uplink.pause_window_s == batcher.pause_window_s == (400 + PAUSE_MARGIN_MS) / 1000
