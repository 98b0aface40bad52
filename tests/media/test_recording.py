"""Call recording (both legs in one stereo WAV) and the retention purge of records
and recordings: by the service's timer and by ``voice-agent purge``."""

from __future__ import annotations

import os
import wave

import numpy as np
import pytest
import trio

from agent.cli.main import main as cli_main
from agent.demo.signals import speechlike
from agent.media.recording import (
    CallRecorder,
    RecordingSettings,
    RecordingWriter,
    purge_recordings,
    recording_path,
)
from agent.observe.process import ObservabilitySettings, run_observability
from agent.observe.records import RecordSettings, RecordStore
from tests.fakes.inmem import LlmReply
from tests.observe.rig import observability, observed_call

FRAME = 320


def read_stereo(path) -> tuple[np.ndarray, np.ndarray]:
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return data[0::2], data[1::2]


def frame(value: int) -> bytes:
    return np.full(FRAME // 2, value, dtype="<i2").tobytes()


def test_recorder_interleaves_the_legs_and_fills_gaps(tmp_path):
    writer = RecordingWriter()
    path = tmp_path / "deep" / "call.wav"
    recorder = CallRecorder(path, 8000, writer, start=100.0)
    for n in range(150):  # 3 s of 20 ms frames on both legs
        now = 100.0 + n * 0.02
        if not 50 <= n < 60:  # the caller sent nothing for 200 ms
            recorder.caller(frame(1000 + n), now)
        recorder.agent(frame(-n), now)
    recorder.close()
    recorder.caller(frame(5), 200.0)  # after close: ignored
    writer.close()
    left, right = read_stereo(path)
    assert len(left) == len(right) == 150 * 160
    # The agent's leg is frame n at n * 20 ms.
    assert all(right[n * 160] == -n for n in range(150))
    # The caller's gap is silence and later frames stay at their own time.
    assert (left[50 * 160 : 60 * 160] == 0).all()
    assert left[49 * 160] == 1049 and left[60 * 160] == 1060 and left[149 * 160] == 1149


async def test_a_recorded_call_has_both_legs_where_they_were_heard(tmp_path, autojump_clock):
    obs = observability(tmp_path, recording=True)
    async with observed_call(obs, ["hello there"], [LlmReply.say("Right you are.")]) as rig:
        await rig.greeted()
        said_at = trio.current_time()
        await rig.phone.say(speechlike(1.0))
        await rig.until(lambda: len(rig.llm.runs) == 1 and rig.brain._turn is None)
        await rig.phone.hang_up()
        await rig.ended()
    await obs.flush()
    record = obs.store.get_call(rig.uuid)
    path = recording_path(tmp_path / "recordings", rig.uuid)
    assert record.recording == str(path)
    left, right = read_stereo(path)
    start, ended = rig.call.started_at, rig.call.ended_at
    assert len(left) / 8000 == pytest.approx(ended - start, abs=0.04)

    def loud(channel, at: float) -> bool:
        i = round((at - start) * 8000)
        return bool(np.abs(channel[i : i + FRAME // 2].astype(np.int32)).max() > 100)

    # The agent's right channel is loud exactly where the phone heard the agent.
    voiced = rig.phone.voiced_times()
    assert all(loud(right, t) for t in voiced[:: len(voiced) // 20])
    assert not loud(right, said_at + 0.5) and loud(left, said_at + 0.5)
    assert not loud(left, voiced[0])  # the caller was quiet during the greeting
    obs.store.close()
    obs.writer.close()


def test_purge_recordings_by_age(tmp_path):
    old, new = tmp_path / "old.wav", tmp_path / "new.wav"
    for path in (old, new, tmp_path / "notes.txt"):
        path.write_bytes(b"x")
    os.utime(old, (1000.0, 1000.0))
    os.utime(tmp_path / "notes.txt", (1000.0, 1000.0))
    assert purge_recordings(tmp_path, older_than=5000.0) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.wav", "notes.txt"]
    assert purge_recordings(tmp_path / "missing", older_than=5000.0) == 0


async def test_the_service_purges_on_a_timer(tmp_path):
    # Real time (a fifth of a second between purges): the purge waits on threads,
    # which a MockClock would jump past.
    settings = ObservabilitySettings(
        records=RecordSettings(path=str(tmp_path / "r.db"), retention_days=1),
        recording=RecordingSettings(enabled=False, directory=str(tmp_path / "rec")),
        metrics_port=0,
        purge_interval_s=0.2,
    )
    (tmp_path / "rec").mkdir()
    old_wav = tmp_path / "rec" / "old.wav"
    old_wav.write_bytes(b"RIFF")
    os.utime(old_wav, (1000.0, 1000.0))
    async with trio.open_nursery() as nursery:
        obs = await nursery.start(
            lambda task_status: run_observability(settings=settings, task_status=task_status)
        )
        await obs.flush()
        with trio.fail_after(10):
            while obs.last_purge is None:
                await trio.sleep(0.05)
        assert obs.last_purge.recordings == 1 and not old_wav.exists()
        obs.store.post_start_call("ancient", started_at=1000.0)
        obs.store.post_start_call("today", started_at=obs.clock())
        await obs.flush()
        with trio.fail_after(10):  # a later tick
            while obs.last_purge.calls == 0:
                await trio.sleep(0.05)
        assert [c.uuid for c in obs.store.calls()] == ["today"]
        nursery.cancel_scope.cancel()
    assert obs.store._closed  # cancelled: the store was closed


def test_voice_agent_purge(tmp_path, monkeypatch, capsys):
    db, rec = tmp_path / "records.db", tmp_path / "rec"
    monkeypatch.setenv("VOICE_AGENT_RECORDS_PATH", str(db))
    monkeypatch.setenv("VOICE_AGENT_RECORDINGS_DIR", str(rec))
    monkeypatch.setenv("VOICE_AGENT_RECORDS_RETENTION_DAYS", "30")
    rec.mkdir()
    now = 2_000_000_000.0
    with RecordStore.open_sqlite(db) as store:
        for uuid, days in (("a", 40), ("b", 31), ("c", 2)):
            store.post_start_call(uuid, started_at=now - days * 86400)
            path = recording_path(rec, uuid)
            path.write_bytes(b"RIFF")
            os.utime(path, (now - days * 86400, now - days * 86400))
    monkeypatch.setattr("time.time", lambda: now)
    assert cli_main(["purge"]) == 0
    assert "purged 2 calls and 2 recordings" in capsys.readouterr().out
    assert sorted(p.name for p in rec.iterdir()) == ["c.wav"]
    assert cli_main(["purge", "--older-than-days", "1"]) == 0
    assert "purged 1 calls and 1 recordings" in capsys.readouterr().out
    with RecordStore.open_sqlite(db) as store:
        assert store.calls() == []
    assert cli_main(["purge", "--older-than-days", "-1"]) == 2
    assert "must be 0 or more" in capsys.readouterr().err
