"""The softphone's barge-in timing against an agent whose speech has pauses."""

from __future__ import annotations

import trio
import trio.testing

from agent.demo.signals import speechlike
from agent.demo.softphone import Caller, CallerParams, HangUp, Say
from agent.media.stream import AudioSocketStream
from agent.wire.audiosocket import Audio, Role

FRAME = 320


async def agent_with_pauses(stream: trio.abc.Stream, started: list[float]) -> None:
    """Speaks from t=1 s for 6 s in 300 ms bursts with 200 ms pauses (like a real
    voice between clauses), silence otherwise, in paced 20 ms frames."""
    agent = AudioSocketStream(stream, Role.SERVER)
    await agent.receive_event()  # the UUID
    voice = speechlike(0.3)[: 15 * FRAME]
    t0 = trio.current_time()
    next_at = t0
    n = 0
    while True:
        t = n * 0.02
        in_speech = 1.0 <= t < 7.0 and (t - 1.0) % 0.5 < 0.3
        if in_speech and not started:
            started.append(trio.current_time())
        k = min(round(((t - 1.0) % 0.5) / 0.02), 14) if in_speech else 0  # float rounding
        frame = voice[k * FRAME : (k + 1) * FRAME] if in_speech else bytes(FRAME)
        try:
            await agent.send(Audio(frame))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return
        n += 1
        next_at += 0.02
        await trio.sleep_until(next_at)


async def test_interrupt_counts_from_the_start_of_the_agents_turn_across_pauses(
    autojump_clock,
):
    client, server = trio.testing.memory_stream_pair()
    started: list[float] = []
    caller = Caller(
        [Say(speechlike(0.5), label="over", interrupt_after_ms=1500), HangUp()],
        params=CallerParams(linger_s=0.1),
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agent_with_pauses, server, started)
        with trio.fail_after(30):
            await caller.run(client)
        nursery.cancel_scope.cancel()
    (said,) = caller.utterances
    # 1.5 s after the agent began, although it paused every 300 ms: not after its
    # turn ended (7 s) and not never.
    assert said.start_at is not None
    assert 1.5 <= said.start_at - started[0] <= 1.5 + 0.04


async def test_a_reacting_caller_answers_between_its_scripted_lines(autojump_clock):
    client, server = trio.testing.memory_stream_pair()
    started: list[float] = []
    asked: list[int] = []
    yes = Say(speechlike(0.3), label="yes")

    def answer() -> list[Say]:
        asked.append(len(asked))
        return [yes] if len(asked) == 1 else []  # one answer to the first turn, then go on

    caller = Caller(
        [Say(speechlike(0.5), label="scripted"), HangUp()],
        params=CallerParams(linger_s=0.1, agent_timeout_s=10.0),
        answer=answer,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(agent_with_pauses, server, started)
        with trio.fail_after(60):
            await caller.run(client)
        nursery.cancel_scope.cancel()
    # The answer is said first, after the agent's turn, then the scripted line.
    assert [u.label for u in caller.utterances] == ["yes", "scripted"]
    assert caller.utterances[0].start_at >= started[0] + 6.0  # not over the agent
    assert len(asked) == 2  # asked again after its answer, and then went on
