"""``voice-agent demo``: the offline stack answers a scripted caller over loopback TCP."""

from __future__ import annotations

import re

import pytest

from agent.base.wav import read_wav
from agent.cli.main import main

pytest.importorskip("faster_whisper", reason="the offline extra is not installed")
pytest.importorskip("espeakng_loader", reason="the offline extra is not installed")


@pytest.mark.offline
@pytest.mark.realtime
def test_demo_call_ends_in_the_expected_transfer_and_saves_the_legs(tmp_path, capsys):
    status = main(["demo", "--scenario", "human", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "OK: transferred to office (PJSIP/1001)" in out
    # The live transcript: what Whisper heard (with the words it doubted named in
    # front, "[check: please]", as the recogniser's scores on this CPU say), what the
    # agent said, and how fast.
    assert re.search(r"caller (\[check: [^\]]*\] )?Can I speak to a person", out), out
    assert "(answered in " in out and "end of caller speech -> first agent audio" in out
    for leg in ("agent", "caller"):
        pcm = read_wav(tmp_path / f"{leg}.wav", 8000)
        assert len(pcm) > 8000 * 2 * 5  # more than five seconds of the call
    assert (tmp_path / "mix.wav").stat().st_size > 0


def test_an_unknown_scenario_is_refused_with_the_choices(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--scenario", "nope"])
    assert exc.value.code == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err
