"""Pacer (csrc/pacer.c) on sequences of `now` values (microseconds)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import Pacer, PacerParams, ParamError

FRAME = 20_000


def play(pacer: Pacer, wakeups: list[int]) -> list[int]:
    """Send every frame that is due at each wake-up; return the send times."""
    sent = []
    for now in wakeups:
        while pacer.due_us(now) <= now:
            pacer.sent(now)
            sent.append(now)
    return sent


def test_steady_grid_one_frame_per_20_ms():
    pacer = Pacer(now_us=0)
    sent = []
    now = 0
    for _ in range(50):
        now = max(now, pacer.due_us(now))  # sleep_until(due)
        pacer.sent(now)
        sent.append(now)
    assert sent == [k * FRAME for k in range(50)]
    assert pacer.due_us(now) == 50 * FRAME
    assert (pacer.frames_sent, pacer.late_frames) == (50, 0)


def test_due_is_in_the_future_until_the_grid_point():
    pacer = Pacer(now_us=1_000)
    assert pacer.due_us(1_000) == 1_000  # the first frame goes at once
    pacer.sent(1_000)
    for now in (1_000, 10_000, 20_999):
        assert pacer.due_us(now) == 21_000


def test_late_wakeups_do_not_drift_the_grid():
    # The loop wakes up 0.3 ms after every due time: the fraction is kept.
    pacer = Pacer(now_us=0)
    now = 0
    for _ in range(1000):
        now = pacer.due_us(now) + 300
        pacer.sent(now)
    assert now == 999 * FRAME + 300
    assert pacer.due_us(now) == 1000 * FRAME
    assert (pacer.frames_sent, pacer.late_frames) == (1000, 0)


def test_stall_gives_no_catch_up_burst_and_keeps_the_grid():
    pacer = Pacer(now_us=0)
    assert play(pacer, [k * FRAME for k in range(5)]) == [0, 20_000, 40_000, 60_000, 80_000]
    # Next frame was due at 100 ms; the loop stalls until 205 ms.
    assert play(pacer, [205_000]) == [205_000]  # one frame, not six
    assert pacer.late_frames == 1
    assert pacer.due_us(205_000) == 220_000  # still on the 20 ms grid
    assert play(pacer, [220_000, 240_000]) == [220_000, 240_000]
    assert pacer.late_frames == 1


def test_reset_rephases_so_the_next_frame_goes_at_once():
    pacer = Pacer(now_us=0)
    play(pacer, [0, 20_000])
    assert pacer.due_us(31_234) == 40_000
    pacer.reset(31_234)  # speech starts after silence, or barge-in
    assert pacer.due_us(31_234) == 31_234
    assert play(pacer, [31_234, 40_000, 51_233, 51_234]) == [31_234, 51_234]
    assert pacer.due_us(51_234) == 71_234
    assert (pacer.frames_sent, pacer.late_frames) == (4, 0)  # counters survive reset


def test_late_frame_counting_uses_late_us():
    pacer = Pacer(PacerParams(late_us=5_000), now_us=0)
    pacer.sent(0)
    pacer.sent(20_000 + 5_000)  # exactly late_us after due: on time
    assert pacer.late_frames == 0
    pacer.sent(40_000 + 5_001)  # one microsecond more: late
    assert pacer.late_frames == 1
    assert pacer.due_us(45_001) == 60_000


def test_burst_two_allows_exactly_one_frame_of_lead():
    pacer = Pacer(PacerParams(burst_frames=2), now_us=0)
    assert play(pacer, [0]) == [0, 0]  # the frame due now plus one frame of lead
    assert pacer.due_us(0) == FRAME
    assert play(pacer, [10_000, 20_000, 40_000]) == [20_000, 40_000]
    # After a stall, at most the burst goes at once.
    assert play(pacer, [300_000]) == [300_000, 300_000]
    assert pacer.due_us(300_000) == 320_000
    assert pacer.late_frames == 1  # the bucket overflowed by far more than late_us


def test_counters_and_repr():
    pacer = Pacer()
    play(pacer, [0, 20_000, 60_000])
    assert (pacer.frames_sent, pacer.late_frames) == (3, 1)
    assert repr(pacer) == "<Pacer sent=3 late=1>"


@settings(max_examples=300, deadline=None)
@given(
    burst=st.integers(1, 3),
    start=st.integers(-(10**12), 10**12),
    gaps=st.lists(st.integers(0, 5 * FRAME), min_size=1, max_size=200),
)
def test_never_more_than_burst_frames_ahead_and_always_on_the_grid(burst, start, gaps):
    pacer = Pacer(PacerParams(burst_frames=burst), now_us=start)
    now = start
    for gap in gaps:
        now += gap
        for _ in range(burst + 1):
            due = pacer.due_us(now)
            # Due times stay on the absolute grid set at construction: no drift.
            assert (due - start) % FRAME == 0
            if due > now:
                break
            pacer.sent(now)
            # Audio sent never exceeds real time elapsed plus the burst.
            assert pacer.frames_sent * FRAME <= (now - start) + burst * FRAME
        else:
            pytest.fail("more than burst_frames frames were due at once")
        assert pacer.due_us(now) > now


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("frame_us", 0),
        ("frame_us", 20_000.0),
        ("burst_frames", 0),
        ("burst_frames", True),
        ("late_us", -1),
    ],
)
def test_bad_params_raise_config_error(field, value):
    with pytest.raises(ParamError, match=field):
        PacerParams(**{field: value})


def test_now_must_be_an_integer():
    with pytest.raises(TypeError):
        Pacer().due_us(1.5)
