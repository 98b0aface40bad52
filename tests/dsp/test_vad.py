"""EnergyVad (csrc/vad.c) on generated vectors with exact expected frame indexes."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dsp import (
    FRAME_MS,
    SILENCE_DBFS,
    EnergyVad,
    ParamError,
    VadParams,
    VadTransition,
    frame_bytes,
    frame_level_dbfs,
)

RATE = 8000
START, END, NONE = VadTransition.SPEECH_START, VadTransition.SPEECH_END, VadTransition.NONE

# Round numbers so that expected indexes follow from the parameters by hand.
PARAMS = VadParams(
    threshold_db=10.0,
    min_speech_dbfs=-45.0,
    start_ms=60.0,
    stop_ms=240.0,
    floor_rise_db_per_s=2.0,
    floor_fall_db_per_s=30.0,
    initial_floor_dbfs=-60.0,
    echo_margin_db=10.0,
    echo_hold_ms=300.0,
    echo_decay_db_per_s=40.0,
    # A fixed guard (reference - echo_margin_db) for these tests; the measured one
    # has its own (tests/dsp/test_vad_echo.py).
    echo_guard_db=0.0,
    echo_adapt_db_per_s=0.0,
)


def reference_dbfs(frame: bytes) -> float:
    x = np.frombuffer(frame, dtype="<i2").astype(np.float64)
    mean_square = float(np.mean(x * x))
    if mean_square == 0.0:
        return -100.0
    return max(-100.0, 10 * math.log10(mean_square) - 20 * math.log10(32768))


def tone(dbfs: float, ms: float, freq: float = 400.0, phase_ms: float = 0.0) -> np.ndarray:
    """A sine whose RMS is `dbfs` (full-scale square = 0 dBFS), as float samples."""
    t = (np.arange(round(ms * RATE / 1000)) + phase_ms * RATE / 1000) / RATE
    return 32768 * 10 ** (dbfs / 20) * math.sqrt(2) * np.sin(2 * math.pi * freq * t)


def silence(ms: float) -> np.ndarray:
    return np.zeros(round(ms * RATE / 1000))


def frames(signal: np.ndarray, ms: float = FRAME_MS) -> list[bytes]:
    pcm = np.clip(np.round(signal), -32768, 32767).astype("<i2").tobytes()
    size = frame_bytes(RATE, int(ms)) if ms == int(ms) else round(ms * RATE / 1000) * 2
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def run(vad: EnergyVad, chunks: list[bytes]) -> list[tuple[int, VadTransition]]:
    events = []
    for index, frame in enumerate(chunks):
        transition = vad.process(frame)
        if transition:
            events.append((index, transition))
    return events


# -- levels -------------------------------------------------------------------


def test_frame_bytes():
    assert frame_bytes() == 320
    assert frame_bytes(8000, 30) == 480
    assert frame_bytes(16000, 20) == 640
    with pytest.raises(ValueError, match="whole number of samples"):
        frame_bytes(44100, 1)
    with pytest.raises(ValueError, match="positive"):
        frame_bytes(0)


def test_silence_gives_finite_floor_level_and_no_transition():
    vad = EnergyVad(PARAMS)
    assert run(vad, [bytes(320)] * 50) == []
    assert vad.level_dbfs == SILENCE_DBFS == -100.0
    assert not vad.speaking
    # The floor fell at 30 dB/s from -60 dBFS: 1 s of silence -> -90 dBFS.
    assert vad.noise_floor_dbfs == pytest.approx(-90.0, abs=1e-9)


def test_tone_level_matches_numpy_and_nominal_level():
    for frame in frames(tone(-20.0, 200)):
        assert frame_level_dbfs(frame) == pytest.approx(reference_dbfs(frame), abs=1e-9)
        assert frame_level_dbfs(frame) == pytest.approx(-20.0, abs=0.05)


def test_full_scale_and_one_lsb():
    assert frame_level_dbfs(b"\x00\x80" * 160) == pytest.approx(0.0, abs=1e-9)
    assert frame_level_dbfs(b"\x01\x00" * 160) == pytest.approx(-20 * math.log10(32768))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-32768, 32767), min_size=1, max_size=400))
def test_level_matches_numpy_reference(samples):
    frame = np.array(samples, dtype="<i2").tobytes()
    assert frame_level_dbfs(frame) == pytest.approx(reference_dbfs(frame), abs=1e-9)


def test_process_reports_the_frame_level_of_noise():
    rng = np.random.default_rng(7)
    vad = EnergyVad(PARAMS)
    for frame in frames(rng.normal(0, 300, RATE)):
        vad.process(frame)
        assert vad.level_dbfs == pytest.approx(reference_dbfs(frame), abs=1e-9)


def test_bytes_like_frames_give_the_same_result():
    frame = frames(tone(-20.0, 20))[0]
    expected = frame_level_dbfs(frame)
    for variant in (bytearray(frame), memoryview(frame), np.frombuffer(frame, "<i2")):
        vad = EnergyVad(PARAMS)
        vad.process(variant)
        vad.note_output(variant)
        assert vad.level_dbfs == pytest.approx(expected, abs=1e-12)


# -- hysteresis -----------------------------------------------------------------


def test_tone_burst_exact_start_and_end_frames():
    # start_ms=60 at 20 ms frames: the 3rd loud frame; stop_ms=240: the 12th quiet frame.
    signal = np.concatenate([silence(200), tone(-20.0, 500), silence(400)])
    vad = EnergyVad(PARAMS)
    assert run(vad, frames(signal)) == [(10 + 2, START), (10 + 25 + 11, END)]


def test_speaking_flag_follows_the_states():
    vad = EnergyVad(PARAMS)
    loud, quiet = frames(tone(-20.0, 20))[0], bytes(320)
    seen = []
    for frame in [loud] * 3 + [quiet] * 12:
        vad.process(frame)
        seen.append(vad.speaking)
    assert seen == [False, False, True] + [True] * 11 + [False]


def test_pausing_marks_the_stop_hangover_and_clears_when_speech_resumes():
    vad = EnergyVad(PARAMS)
    loud, quiet = frames(tone(-20.0, 20))[0], bytes(320)
    seen = []
    for frame in [loud] * 3 + [quiet] * 2 + [loud] + [quiet] * 12:
        vad.process(frame)
        seen.append(vad.pausing)
    # Pausing from the first quiet frame; loud again: not pausing; the 12th quiet
    # frame ends speech (not pausing: quiet).
    assert seen == [False] * 3 + [True, True] + [False] + [True] * 11 + [False]


def test_speech_like_bursts_with_short_gaps_are_one_utterance():
    # 200 ms syllables separated by 100 ms gaps (< stop_ms): one start, one end.
    syllable = np.concatenate([tone(-25.0, 200, freq=300), silence(100)])
    signal = np.concatenate([silence(100), *[syllable] * 4, silence(500)])
    vad = EnergyVad(PARAMS)
    # Starts on the 3rd frame of the first syllable (index 5 + 2); the last
    # syllable ends at frame 5 + 4 * 15 - 5 = 60 and the 12th quiet frame after
    # it is index 71 (the trailing 100 ms gap counts toward stop_ms).
    assert run(vad, frames(signal)) == [(7, START), (71, END)]


def test_blip_shorter_than_start_ms_is_ignored():
    signal = np.concatenate([silence(100), tone(-20.0, 40), silence(300)])
    vad = EnergyVad(PARAMS)
    assert run(vad, frames(signal)) == []
    assert not vad.speaking


def test_thirty_ms_frames_convert_durations_from_the_frame_length():
    # 30 ms frames (480 bytes): 60 ms = 2 frames to start, 240 ms = 8 frames to stop.
    signal = np.concatenate([silence(300), tone(-20.0, 600), silence(600)])
    chunks = frames(signal, ms=30)
    assert {len(c) for c in chunks} == {480}
    vad = EnergyVad(PARAMS)
    assert run(vad, chunks) == [(10 + 1, START), (10 + 20 + 7, END)]


def test_short_last_frame_counts_its_samples():
    # start_ms=50 = 400 samples: 160 + 160 + 140 (a 280-byte frame) reaches it...
    params = VadParams(start_ms=50.0, initial_floor_dbfs=-60.0)
    loud = frames(tone(-20.0, 20))[0]
    vad = EnergyVad(params)
    assert [vad.process(f) for f in (loud, loud, loud[:280])] == [NONE, NONE, START]
    # ...but 160 + 160 + 1 sample does not.
    vad = EnergyVad(params)
    assert [vad.process(f) for f in (loud, loud, loud[2:4])] == [NONE, NONE, NONE]
    assert vad.process(loud) == START


def test_start_ms_zero_starts_on_the_first_loud_frame():
    vad = EnergyVad(VadParams(start_ms=0.0, stop_ms=0.0))
    loud = frames(tone(-20.0, 20))[0]
    assert [vad.process(f) for f in (loud, bytes(320))] == [START, END]


# -- noise floor ----------------------------------------------------------------


def test_floor_rises_slowly_toward_steady_noise_and_then_speech_stands_out():
    # A steady -50 dBFS hum is below min_speech_dbfs: it never counts as speech,
    # and the floor climbs at exactly 2 dB/s (0.04 dB per 20 ms frame).
    hum = frames(tone(-50.0, 6000, freq=100))
    vad = EnergyVad(PARAMS)
    assert run(vad, hum[:50]) == []
    assert vad.noise_floor_dbfs == pytest.approx(-60.0 + 2.0, abs=1e-9)
    assert run(vad, hum[50:]) == []
    assert vad.noise_floor_dbfs == pytest.approx(vad.level_dbfs, abs=0.05)  # caught up
    assert run(vad, frames(tone(-20.0, 100))) == [(2, START)]


def test_floor_does_not_rise_while_speaking():
    vad = EnergyVad(PARAMS)
    loud = frames(tone(-20.0, 2000))
    run(vad, loud[:3])
    assert vad.speaking
    before = vad.noise_floor_dbfs
    assert run(vad, loud[3:]) == []
    assert vad.noise_floor_dbfs == before


def test_noisy_line_raises_the_threshold_above_min_speech():
    # Noise at about -40 dBFS (above min_speech) is learned only while not
    # speaking; a VAD that starts with the floor there ignores it and still
    # hears a voice 20 dB louder.
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 32768 * 10 ** (-40 / 20), RATE * 2)
    vad = EnergyVad(VadParams(initial_floor_dbfs=-40.0))
    assert run(vad, frames(noise)) == []
    assert -45.0 < vad.threshold_dbfs == pytest.approx(vad.noise_floor_dbfs + 10.0, abs=0.1)
    voice = noise[:RATE] + tone(-20.0, 1000, freq=250)
    assert run(vad, frames(voice))[0] == (2, START)


# -- echo guard -----------------------------------------------------------------


def test_echo_of_our_own_speech_is_ignored_but_a_louder_voice_is_heard():
    sent = frames(tone(-20.0, 2000, freq=500))
    echo = tone(-32.0, 2000, freq=500, phase_ms=3)  # 12 dB down: > echo_margin_db
    voice = tone(-15.0, 2000, freq=230)

    # Control: without the guard the echo alone is speech.
    assert run(EnergyVad(PARAMS), frames(echo))[0] == (2, START)

    vad = EnergyVad(PARAMS)
    events = []
    for index, (out, heard) in enumerate(zip(sent, frames(echo), strict=True)):
        vad.note_output(out)
        if index >= 60:  # the caller talks over us from frame 60 on
            heard = frames(echo[index * 160 : (index + 1) * 160] + voice[:160])[0]
        if transition := vad.process(heard):
            events.append((index, transition))
    assert vad.echo_reference_dbfs == pytest.approx(-20.0, abs=0.05)
    assert events == [(62, START)]


def test_echo_guard_holds_then_decays():
    # We talk for 1 s, then stop; the echo (-32 dBFS) keeps coming back.
    # Reference -20 dBFS, threshold -30. The guard holds for echo_hold_ms
    # (300 ms = 15 frames; the 10 ms ring rounds the first release to frame
    # 15), then decays 0.8 dB per frame: threshold -30.8, -31.6, -32.4 at
    # frames 15, 16, 17 after the last output, so the echo counts as loud
    # from frame 17 and speech starts on frame 19 (start_ms = 3 frames).
    sent = frames(tone(-20.0, 1000, freq=500))
    echo = frames(tone(-32.0, 3000, freq=500))
    vad = EnergyVad(PARAMS)
    events = []
    for index, heard in enumerate(echo):
        if index < len(sent):
            vad.note_output(sent[index])
        if transition := vad.process(heard):
            events.append((index, transition))
    last_output = len(sent) - 1
    assert events[0] == (last_output + 19, START)


def test_note_output_silence_does_not_raise_the_threshold():
    vad = EnergyVad(PARAMS)
    loud = frames(tone(-30.0, 100))
    for frame in loud:
        vad.note_output(bytes(320))
        vad.process(frame)
    assert vad.speaking


def test_reset_forgets_speech_floor_and_echo():
    vad = EnergyVad(PARAMS)
    loud = frames(tone(-20.0, 100))
    for frame in loud:
        vad.note_output(frame)
    run(vad, [bytes(320)] * 10 + loud)
    vad.reset()
    assert not vad.speaking
    assert vad.noise_floor_dbfs == -60.0
    assert vad.echo_reference_dbfs == SILENCE_DBFS
    assert vad.level_dbfs == SILENCE_DBFS


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([-100.0, -50.0, -35.0, -10.0]), st.integers(1, 400)),
        min_size=1,
        max_size=60,
    )
)
def test_transitions_alternate_and_match_speaking(segments):
    vad = EnergyVad(PARAMS)
    last = END
    for dbfs, samples in segments:
        pcm = np.round(tone(dbfs, 1000)[:samples]) if dbfs > -100 else np.zeros(samples)
        transition = vad.process(pcm.astype("<i2").tobytes())
        if transition:
            assert transition != last
            last = transition
        assert vad.speaking == (last == START)
        assert math.isfinite(vad.level_dbfs) and math.isfinite(vad.noise_floor_dbfs)


# -- bad input ------------------------------------------------------------------


@pytest.mark.parametrize("method", ["process", "note_output"])
def test_bad_frames_are_refused_clearly(method):
    call = getattr(EnergyVad(), method)
    with pytest.raises(ValueError, match="odd length"):
        call(b"\x00" * 319)
    with pytest.raises(ValueError, match="empty"):
        call(b"")
    with pytest.raises(TypeError, match="bytes-like"):
        call("not audio")
    with pytest.raises(ValueError, match="odd length"):
        call(bytearray(3))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("threshold_db", -1.0),
        ("min_speech_dbfs", 3.0),
        ("start_ms", -20.0),
        ("stop_ms", float("nan")),
        ("floor_rise_db_per_s", 0.0),
        ("floor_fall_db_per_s", float("inf")),
        ("initial_floor_dbfs", -120.0),
        ("echo_margin_db", True),
        ("echo_hold_ms", 1000.0),
        ("echo_decay_db_per_s", "fast"),
        ("echo_guard_db", -1.0),
        ("echo_adapt_db_per_s", float("nan")),
        ("echo_return_max_db", 200.0),
        ("echo_onset_drop_db", -3.0),
    ],
)
def test_bad_params_raise_config_error(field, value):
    with pytest.raises(ParamError, match=field):
        VadParams(**{field: value})


def test_bad_sample_rate_raises_config_error():
    for rate in (0, 8001, 8000.0, 1_000_000):
        with pytest.raises(ParamError, match="sample_rate"):
            EnergyVad(sample_rate=rate)


def test_dsp_is_pure():
    code = "import sys, dsp; sys.exit(bool({'trio', 'httpx', 'trio_websocket'} & set(sys.modules)))"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
