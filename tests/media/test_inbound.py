"""Caller audio read by the media clock's task (``agent.media.inbound``) over real
socket pairs, in virtual time: 200 calls get every frame in order within a slot of its
arrival, sharing the clock's wake-ups; barge-in pauses the agent within the frame;
and everything that is not plain audio (DTMF, hang-up, EOF, a malformed message, a
failing hook) is handled by the call's own reader exactly as before."""

from __future__ import annotations

import functools
import random
import socket
import uuid

import numpy as np
import pytest
import trio
import trio.testing

from agent.base.config import ServerSettings
from agent.base.logs import current_call
from agent.demo.signals import speechlike
from agent.media.clock import SLOT_S, MediaClock
from agent.media.inbound import InboundPoller
from agent.media.server import handle_connection
from agent.wire.audiosocket import Audio, Connection, Dtmf, Hangup, Identify, Role
from dsp import VadTransition
from tests.media.test_clock_calls import AGENT_SPEECH, say_one_long_line

CALLS = 200
FRAMES = 100
FRAME = 320
CALLER_SPEECH = speechlike(1.0)
SETTINGS = ServerSettings(brain="echo")
EPS = 2e-6


def quiet(k: int) -> bytes:
    """Silence to any detector, numbered (so order and loss show)."""
    return np.full(160, k % 50, dtype="<i2").tobytes()


class Brain:
    """Says one long line; the caller's speech start pauses it (a barge-in's first step)."""

    def __init__(self, call, *, fail_at: int | None = None, hang_up_at: int | None = None):
        self.call = call
        self.frames: list[tuple[float, bytes]] = []
        self.digits: list[tuple[int, str]] = []
        self.paused_at: float | None = None
        self.contexts: set[str | None] = set()
        self.fail_at = fail_at
        self.hang_up_at = hang_up_at

    async def run(self, call) -> None:
        await say_one_long_line(call)

    def on_audio(self, pcm: bytes, now: float) -> None:
        self.frames.append((now, pcm))
        self.contexts.add(current_call.get())
        if len(self.frames) == self.fail_at:
            raise RuntimeError("a hook failed")
        if len(self.frames) == self.hang_up_at:
            self.call.hangup("agent")

    def on_vad(self, transition: VadTransition, level_dbfs: float, now: float) -> None:
        if transition == VadTransition.SPEECH_START and self.paused_at is None:
            self.call.playout.pause()  # sync, inline: within this frame
            self.paused_at = now

    def on_dtmf(self, digit: str, now: float) -> None:
        self.digits.append((len(self.frames), digit))

    def end_politely(self, reason: str) -> None:
        pass


async def phone(sock, messages, sent: list[tuple[float, bytes]], heard: list, call_id=None):
    """Asterisk's side on a raw socket: each message on the 20 ms grid (audio is
    logged with its send time), every agent frame logged with its arrival."""
    peer = trio.SocketStream(sock)
    conn = Connection(Role.CLIENT)
    await peer.send_all(conn.send(Identify(call_id or uuid.uuid4())))

    async def listen() -> None:
        while data := await peer.receive_some(65536):
            conn.receive_data(data)
            while isinstance(event := conn.next_event(), Audio):
                heard.append((trio.current_time(), event.pcm))

    async with peer, trio.open_nursery() as nursery:
        nursery.start_soon(listen)
        start = trio.current_time()
        for k, message in enumerate(messages):
            if isinstance(message, bytes):
                sent.append((trio.current_time(), message))
                message = Audio(message)
            await peer.send_all(conn.send(message))
            await trio.sleep_until(start + 0.02 * (k + 1))
        await trio.sleep(0.1)
        nursery.cancel_scope.cancel()


async def test_200_calls_on_one_inbound_task_get_every_frame_at_once_and_barge_in(
    autojump_clock,
):
    rng = random.Random(7)
    brains: dict[uuid.UUID, Brain] = {}
    sent: dict[uuid.UUID, list[tuple[float, bytes]]] = {}
    heard: dict[uuid.UUID, list[tuple[float, bytes]]] = {}

    def make_brain(call) -> Brain:
        brains[call.uuid] = Brain(call)
        return brains[call.uuid]

    async with trio.open_nursery() as clock_nursery:
        clock = MediaClock(clock_nursery)
        async with trio.open_nursery() as calls:
            for n in range(CALLS):
                # Phases on a 1 ms grid: ten calls send in the same instant.
                await trio.sleep_until(int(rng.uniform(0, 20)) / 1000 + n * 1e-6)
                ours, theirs = trio.socket.socketpair()
                talks = rng.randrange(30, 60)
                messages = [
                    quiet(k)
                    if k < talks
                    else CALLER_SPEECH[(k * FRAME) % 7000 : (k * FRAME) % 7000 + FRAME]
                    for k in range(FRAMES)
                ]
                call_id = uuid.UUID(int=n + 1)
                sent[call_id], heard[call_id] = [], []
                calls.start_soon(
                    functools.partial(
                        handle_connection,
                        trio.SocketStream(ours),
                        SETTINGS,
                        make_brain,
                        clock=clock,
                    )
                )
                calls.start_soon(phone, theirs, messages, sent[call_id], heard[call_id], call_id)
            await trio.sleep(2.5)
            calls.cancel_scope.cancel()
        assert clock.inbound.members == 0
    # The clock's nursery closed by itself: the inbound task ended with the last call.

    assert len(brains) == CALLS
    for call_id, brain in brains.items():
        frames_sent, agent_heard = sent[call_id], heard[call_id]
        # Every frame, in order, handled within a slot of its arrival.
        assert [f for _, f in brain.frames] == [f for _, f in frames_sent]
        for (handled, _), (arrived, _) in zip(brain.frames, frames_sent, strict=True):
            assert arrived <= handled <= arrived + SLOT_S + EPS
        assert brain.paused_at in {t for t, _ in brain.frames}
        speech = [t for t, f in agent_heard if f == AGENT_SPEECH]
        assert speech and speech[-1] <= brain.paused_at  # nothing of it after the pause
    assert clock.inbound.polls >= CALLS * FRAMES
    # Both directions of every call share the clock's wake-ups: at most about one
    # per slot over the 2.5 s (where a reader per call woke 50 times a second).
    assert clock.wakeups <= 2.6 / SLOT_S + CALLS


async def one_call(messages, **brain_options):
    """One call over a socket pair on a media clock: (end reason, brain, clock)."""
    brains: list[Brain] = []

    def make_brain(call) -> Brain:
        brains.append(Brain(call, **brain_options))
        return brains[-1]

    ours, theirs = trio.socket.socketpair()
    async with trio.open_nursery() as nursery:
        clock = MediaClock(nursery)
        nursery.start_soon(phone, theirs, messages, [], [])
        call = await handle_connection(trio.SocketStream(ours), SETTINGS, make_brain, clock=clock)
        nursery.cancel_scope.cancel()
    return call, brains[0], clock


async def test_a_dtmf_goes_to_the_reader_and_the_audio_after_it_back_to_the_poller(
    autojump_clock,
):
    frames = [quiet(k) for k in range(10)]
    call, brain, clock = await one_call([*frames[:5], Dtmf("5"), *frames[5:], Hangup()])
    assert call.end_reason == "hangup-message"
    assert [f for _, f in brain.frames] == frames
    assert brain.digits == [(5, "5")]
    assert clock.inbound.polls >= 10
    # Hooks run in the call's own context, inline or not: its log lines carry its UUID.
    assert brain.contexts == {str(call.uuid)}


@pytest.mark.parametrize(
    ("tail", "reason"),
    [
        ([], "hangup"),  # the caller's EOF
        ([Audio(bytes(320), sample_rate=16000)], "protocol-error"),  # not our rate
    ],
)
async def test_the_end_of_a_polled_call_is_read_as_before(autojump_clock, tail, reason):
    call, brain, _ = await one_call([quiet(k) for k in range(5)] + tail)
    assert call.end_reason == reason
    assert len(brain.frames) == 5


async def test_a_malformed_message_ends_the_call_as_a_protocol_error(autojump_clock):
    ours, theirs = trio.socket.socketpair()
    brains: list[Brain] = []

    async def asterisk() -> None:
        async with trio.SocketStream(theirs) as peer:
            conn = Connection(Role.CLIENT)
            await peer.send_all(conn.send(Identify(uuid.uuid4())))
            await peer.send_all(conn.send(Audio(quiet(1))))
            await trio.sleep(0.02)
            await peer.send_all(b"\x77\x00\x02ab")  # no such kind
            await trio.sleep(1)

    async with trio.open_nursery() as nursery:
        clock = MediaClock(nursery)
        nursery.start_soon(asterisk)
        call = await handle_connection(
            trio.SocketStream(ours),
            SETTINGS,
            lambda c: brains.append(Brain(c)) or brains[-1],
            clock=clock,
        )
        nursery.cancel_scope.cancel()
    assert call.end_reason == "protocol-error"
    assert len(brains[0].frames) == 1


async def test_a_hook_that_fails_fails_its_call_only(autojump_clock):
    call, brain, _ = await one_call([quiet(k) for k in range(10)], fail_at=3)
    assert call.end_reason == "error"
    assert len(brain.frames) == 3


async def test_no_frame_is_handled_after_the_call_ended(autojump_clock):
    call, brain, clock = await one_call([quiet(k) for k in range(10)], hang_up_at=4)
    assert call.end_reason == "agent"
    assert len(brain.frames) == 4
    assert clock.inbound.members == 0


async def test_a_drain_stops_when_a_frame_is_due_and_leaves_the_rest_readable(nursery):
    """``drain(until, now)`` stops after the member whose handling reached ``until``
    (the clock then sends the frame due); the members not yet handled are still
    readable and the next drain handles them, each once."""
    poller = InboundPoller(lambda: None)
    fake_now = [0.0]
    handled: list[int] = []

    class Member:
        def __init__(self, index: int, sock: socket.socket) -> None:
            self.index, self.sock = index, sock

        def inbound_ready(self) -> bool:
            self.sock.recv(4096)
            handled.append(self.index)
            fake_now[0] += 0.0004  # each member's frame path takes 0.4 ms
            return True

    pairs = [socket.socketpair() for _ in range(6)]
    for index, (ours, _) in enumerate(pairs):
        ours.setblocking(False)
        nursery.start_soon(poller.serve, ours.fileno(), Member(index, ours))
    await trio.testing.wait_all_tasks_blocked()
    for _, theirs in pairs:
        theirs.send(b"x" * FRAME)

    assert poller.drain(until=0.001, now=lambda: fake_now[0]) is True
    assert len(handled) == 3  # 0.4, 0.8, then 1.2 ms >= 1 ms: stop
    assert poller.drain(until=float("inf"), now=lambda: fake_now[0]) is False
    assert sorted(handled) == list(range(6))
    assert poller.cut_short == 1
    nursery.cancel_scope.cancel()
    for ours, theirs in pairs:
        ours.close()
        theirs.close()
