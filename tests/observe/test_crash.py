"""A server killed (SIGKILL) in the middle of a call keeps the call's completed turns."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from agent.observe.records import RecordStore
from tests.paths import REPO

ROOT = REPO

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path

    import trio, trio.testing

    from tests.fakes.inmem import LlmReply
    from agent.demo.signals import speechlike
    from tests.observe.rig import observability, observed_call

    async def main():
        obs = observability(Path(sys.argv[1]))
        replies = [
            LlmReply.say("A leak repair is eighty five pounds."),
            LlmReply.say("Let me see what we have", hang=True),  # never finishes
        ]
        script = ["my tap is leaking", "how soon can you come"]
        async with observed_call(obs, script, replies) as rig:
            await rig.greeted()
            await rig.phone.say(speechlike(1.0))
            await rig.until(lambda: len(rig.llm.runs) == 1 and rig.brain._turn is None)
            await rig.phone.say(speechlike(1.0))
            turn = None
            await rig.until(lambda: len(rig.llm.runs) == 2 and rig.brain._turn is not None)
            turn = rig.brain._turn
            await rig.until(lambda: turn.utterance is not None and turn.utterance.first_frame_at)
            await obs.store.flush()  # what was posted is committed; turn 2 is in flight
            print(rig.uuid, flush=True)
            time.sleep(60)  # the parent kills us here, mid-call

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    """
)


def test_killed_server_keeps_the_completed_turns_of_a_call(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        uuid = proc.stdout.readline().strip()
        assert uuid, proc.stderr.read()
        proc.kill()  # SIGKILL: no cleanup, no close, no end_call
        proc.wait(timeout=10)
    finally:
        proc.stdout.close()
        proc.stderr.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with RecordStore.open_sqlite(tmp_path / "records.db") as store:
        turns = store.turns(uuid)
        call = store.get_call(uuid)
    assert [t.index for t in turns] == [0, 1]
    assert turns[0].agent_text.endswith("How can I help you today?")
    assert turns[1].caller_text == "my tap is leaking"
    assert turns[1].agent_text == "A leak repair is eighty five pounds."
    assert turns[1].first_agent_frame_at > turns[1].caller_speech_end_at
    assert call is not None and call.ended_at is None and call.outcome is None
