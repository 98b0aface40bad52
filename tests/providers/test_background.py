"""Background work: counted while it runs, and the process's exit waits for it
(an abandoned Whisper decode running through the exit crashed it with SIGSEGV)."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

from agent.providers.background import (
    background_work,
    in_background,
    wait_for_background_work,
)

REPO = Path(__file__).resolve().parents[2]

# A call's decode abandoned at hang-up (abandon_on_cancel), then the process ends.
ABANDONED_AT_EXIT = """
import sys, time, trio
from agent.providers.background import in_background

def decode():
    time.sleep(1.0)
    with open(sys.argv[1], "w") as done:
        done.write("ended")

async def main():
    with trio.move_on_after(0.1):
        await trio.to_thread.run_sync(in_background, decode, abandon_on_cancel=True)

trio.run(main)
"""


def test_work_is_counted_while_it_runs():
    started, release = threading.Event(), threading.Event()

    def work() -> str:
        started.set()
        release.wait(5)
        return "done"

    results: list[str] = []
    thread = threading.Thread(target=lambda: results.append(in_background(work)))
    thread.start()
    assert started.wait(5)
    assert background_work() == 1
    assert not wait_for_background_work(0.05)
    release.set()
    assert wait_for_background_work(5)
    thread.join(5)
    assert results == ["done"] and background_work() == 0


def test_the_exit_waits_for_work_abandoned_by_a_cancelled_call(tmp_path):
    marker = tmp_path / "ended"
    run = subprocess.run(
        [sys.executable, "-c", ABANDONED_AT_EXIT, str(marker)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    # The worker is a daemon thread: without the wait it is frozen mid-work at exit.
    assert marker.read_text() == "ended"
    assert "exit waits for a speech decode still running" in run.stderr
