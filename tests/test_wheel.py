"""The wheel users install: the runtime rooms and the demo's data, no fake vendor server."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest

from tests.paths import REPO


@pytest.fixture(scope="module")
def wheel_names(tmp_path_factory) -> list[str]:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
         "-w", str(out), str(REPO)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = out.glob("voice_agent-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


def test_the_wheel_has_no_fake_vendor_server_and_no_tests(wheel_names):
    assert not [n for n in wheel_names if n.startswith("tests/")]
    assert not [n for n in wheel_names if "fake" in n.rsplit("/", 1)[-1]]
    for vendor_fake in ("deepgram_asr", "cartesia_checks", "tone_text", "inmem"):
        assert not [n for n in wheel_names if vendor_fake in n], vendor_fake


def test_the_wheel_has_what_the_demo_needs(wheel_names):
    assert "agent/demo/booking_api.py" in wheel_names  # the local booking backend
    assert "agent/demo/softphone.py" in wheel_names
    assert "agent/business/data/companies.json" in wheel_names
    assert "agent/demo/data/caller/manifest.tsv" in wheel_names
    assert any(n.startswith("dsp/_voicecore") and n.endswith(".so") for n in wheel_names)
