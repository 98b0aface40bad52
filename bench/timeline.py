"""Each answered turn's timeline and each barge-in, from what the fakes, the brain
and the caller recorded (for latency.py; every time on the one Trio clock)."""

from __future__ import annotations

import math
from typing import Any

import attrs
from rig import Fakes

from agent.base.events import Transcript
from agent.dialogue.turntaking import BargeIn, ConfirmResponse, PausePlayout, StartResponse
from dsp import VadTransition

STAGES = (
    ("stt_audio_at", "caller sends the frame ending it"),
    ("stt_audio_in", "that audio reaches the fake STT"),
    ("stt_final_sent", "STT final leaves the fake"),
    ("stt_final_in", "turn-taker gets the final"),
    ("vad_end", "VAD speech end (server)"),
    ("reply_start", "reply starts (Start/Confirm)"),
    ("llm_request", "LLM request at the fake"),
    ("llm_first_token", "first token leaves the fake"),
    ("tts_first_text", "first text at the TTS fake"),
    ("tts_first_audio", "first audio leaves the fake"),
    ("frame_sent", "playout sends the first frame"),
    ("heard", "caller hears it (mouth-to-ear)"),
)


def turn_stamps(times) -> dict[str, float | None]:
    return {
        "turn_llm_run": times.llm_request_at,
        "turn_first_token": times.llm_first_token_at,
        "turn_tts_text": times.tts_request_at,
        "turn_tts_audio": times.tts_first_audio_at,
    }


TURN_STAGES = (
    ("turn_llm_run", "the turn calls the LLM client"),
    ("turn_first_token", "the turn has the first token"),
    ("turn_tts_text", "the turn hands text to the TTS"),
    ("turn_tts_audio", "the turn has the first audio"),
)


@attrs.define
class Trace:
    """What one call's brain saw and did, with the server's clock."""

    brain: Any
    call: Any = None  # held here: the brain keeps only a weak reference
    vad: list[tuple[float, VadTransition]] = attrs.Factory(list)
    stt: list[tuple[float, Any]] = attrs.Factory(list)
    actions: list[tuple[float, Any]] = attrs.Factory(list)


def traced(factory):
    """Wrap a brain factory so each brain's hooks log what they see (no extra hops)."""
    traces: list[Trace] = []

    def make(call):
        brain = factory(call)
        trace = Trace(brain, call)
        traces.append(trace)
        on_vad, stt_event, execute = brain.on_vad, brain.taker.stt_event, brain._execute

        def on_vad_traced(transition, level, now):
            trace.vad.append((now, transition))
            on_vad(transition, level, now)

        def stt_event_traced(event, now):
            trace.stt.append((now, event))
            return stt_event(event, now)

        def execute_traced(actions, now):
            trace.actions.extend((now, action) for action in actions)
            execute(actions, now)

        brain.on_vad, brain.taker.stt_event, brain._execute = (
            on_vad_traced,
            stt_event_traced,
            execute_traced,
        )
        return brain

    return make, traces


def first(items, predicate, lo: float, hi: float = math.inf):
    return next((t for t, x in items if lo <= t <= hi and predicate(x)), None)


def turn_timeline(
    u, response_ms: float, trace: Trace, fakes: Fakes, wall: float
) -> dict[str, float] | None:
    """Every stage of one answered turn, in ms after the caller's end of speech
    (``wall``: time.time() - trio.current_time(), for the fakes' wall-clock stamps)."""
    end, heard = u.end_at, u.end_at + response_ms / 1000
    lo = u.start_at
    sent = [
        (t, m) for c in fakes.deepgram.connections for t, m in zip(c.sent_at, c.sent, strict=False)
    ]
    at: dict[str, float | None] = {
        "stt_final_sent": first(
            sent, lambda m: m.get("type") == "Results" and m.get("speech_final"), lo, heard
        ),
        "stt_final_in": first(
            trace.stt, lambda e: isinstance(e, Transcript) and e.is_final and e.text, lo, heard
        ),
        "vad_end": first(trace.vad, lambda v: v == VadTransition.SPEECH_END, end - 0.1, heard),
        "reply_start": first(
            trace.actions,
            lambda a: (
                isinstance(a, ConfirmResponse)
                or (isinstance(a, StartResponse) and not a.speculative)
            ),
            lo,
            heard,
        ),
        "speculative_start": first(
            trace.actions, lambda a: isinstance(a, StartResponse) and a.speculative, lo, heard
        ),
    }
    requests = [r for r in fakes.openai.requests if r.received_at and lo <= r.received_at <= heard]
    contexts = [
        c for c in fakes.cartesia.contexts.values() if c.fragments and lo <= c.fragments[0][0]
    ]
    contexts = [c for c in contexts if c.fragments[0][0] <= heard]
    frames = [
        t.utterance.first_frame_at
        for t in trace.brain.turns
        if t.utterance is not None and t.utterance.first_frame_at is not None
    ]
    timing = [
        (at_ - wall, arrived - wall)
        for c in fakes.deepgram.connections
        for at_, arrived, sent in c.final_timing
        if at_ is not None and lo <= sent - wall <= heard
    ]
    at["stt_audio_at"], at["stt_audio_in"] = timing[0] if timing else (None, None)
    at["llm_request"] = requests[-1].received_at if requests else None
    at["llm_first_token"] = requests[-1].first_token_at if requests else None
    # The request's connection was opened after the reply started: a handshake on its path.
    connected_at = requests[-1].connected_at if requests else None
    at["tts_first_text"] = contexts[-1].fragments[0][0] if contexts else None
    at["tts_first_audio"] = contexts[-1].first_chunk_at if contexts else None
    at["frame_sent"] = next((t for t in frames if end <= t <= heard), None)
    at["heard"] = heard
    if any(at[key] is None for key, _ in STAGES):
        return None
    # The answering turn's own stamps (TurnTimes), to split the agent's stages.
    turn = next(
        (
            t
            for t in trace.brain.turns
            if t.utterance is not None and t.utterance.first_frame_at == at["frame_sent"]
        ),
        None,
    )
    if turn is not None:
        for key, value in turn_stamps(turn.times).items():
            if value is not None and lo <= value <= heard:
                at[key] = value
    fresh = connected_at is not None and connected_at >= at["reply_start"]
    timeline = {key: (value - end) * 1000 for key, value in at.items() if value is not None}
    timeline["llm_fresh_connection"] = float(fresh)  # (a flag: 1.0 when a handshake came first)
    return timeline


def provider_time(tl: dict[str, float], *, uplink_counted: bool = True) -> float:
    """The three provider stages as the fakes actually timed them (ms). The STT's:
    the endpointing silence up to the frame that completed it (the caller's stamp),
    then the fake's own time from that audio's arrival to the final; or, the way
    before frame stamps (``uplink_counted=False``), all of the caller's end of
    speech -> the final leaving, the agent's uplink included."""
    if uplink_counted:
        stt = tl["stt_audio_at"] + (tl["stt_final_sent"] - tl["stt_audio_in"])
    else:
        stt = tl["stt_final_sent"]
    return (
        stt
        + (tl["llm_first_token"] - tl["llm_request"])
        + (tl["tts_first_audio"] - tl["tts_first_text"])
    )


def segments(tl: dict[str, float]) -> dict[str, float]:
    """The agent's own pieces of one turn (ms)."""
    start = tl.get("speculative_start", tl["reply_start"])
    start = min(start, tl["reply_start"])
    return {
        "speech end -> caller sends the frame ending it (endpointing)": tl["stt_audio_at"],
        "STT uplink (that frame sent -> at the fake)": tl["stt_audio_in"] - tl["stt_audio_at"],
        "audio at the fake -> STT final leaves (injected)": tl["stt_final_sent"]
        - tl["stt_audio_in"],
        "LLM request -> first token leaves (injected)": tl["llm_first_token"] - tl["llm_request"],
        "TTS first text -> first audio leaves (injected)": tl["tts_first_audio"]
        - tl["tts_first_text"],
        "stt client (final leaves fake -> turn-taker)": tl["stt_final_in"] - tl["stt_final_sent"],
        "turn-taking wait (final in -> reply starts)": tl["reply_start"] - tl["stt_final_in"],
        "reply start -> LLM request at the fake": tl["llm_request"] - start,
        "first token -> first text at the TTS": tl["tts_first_text"] - tl["llm_first_token"],
        "TTS first audio -> playout first frame": tl["frame_sent"]
        - max(tl["tts_first_audio"], tl["reply_start"]),
        "playout frame -> caller": tl["heard"] - tl["frame_sent"],
        **_turn_segments(tl, start),
    }


def _turn_segments(tl: dict[str, float], start: float) -> dict[str, float]:
    """The same stages split at the answering turn's own stamps (when it has them)."""
    if any(key not in tl for key, _ in TURN_STAGES):
        return {}
    return {
        "  reply start -> the turn calls the LLM (task hops)": tl["turn_llm_run"] - start,
        "  LLM call -> request at the fake (client, TLS, fake's parse)": tl["llm_request"]
        - tl["turn_llm_run"],
        "  first token leaves -> at the turn (SSE, TLS)": tl["turn_first_token"]
        - tl["llm_first_token"],
        "  token at the turn -> text to the TTS (ear stream)": tl["turn_tts_text"]
        - tl["turn_first_token"],
        "  text to the TTS -> at the fake (WebSocket, TLS)": tl["tts_first_text"]
        - tl["turn_tts_text"],
        "  first audio leaves -> at the turn (WebSocket, TLS, decode)": tl["turn_tts_audio"]
        - tl["tts_first_audio"],
        "  audio at the turn -> playout first frame": tl["frame_sent"]
        - max(tl["turn_tts_audio"], tl["reply_start"]),
    }


def barge_in(u, caller, trace: Trace) -> dict[str, float] | None:
    onset = u.start_at
    vad_start = first(trace.vad, lambda v: v == VadTransition.SPEECH_START, onset)
    decision = first(trace.actions, lambda a: isinstance(a, (PausePlayout, BargeIn)), onset)
    if vad_start is None or decision is None:
        return None
    voiced = [r.at for r in caller.received if r.voiced and r.at >= onset - 0.1]
    last = None
    for t in voiced:  # the agent's speech run we talked over
        if last is not None and t - last > 0.06:
            break
        last = t
    if last is None:
        return None
    return {
        "onset_to_vad_start_ms": (vad_start - onset) * 1000,
        "vad_start_to_decision_ms": (decision - vad_start) * 1000,
        "decision_to_last_frame_ms": (last - decision) * 1000,
        "frames_after_decision": float(sum(1 for t in voiced if decision < t <= last)),
        "onset_to_last_frame_ms": (last - onset) * 1000,
    }
