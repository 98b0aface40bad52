"""``voice-agent check --live``: one real round trip through the configured providers.

The first thing to run after adding keys. Three stages, each on its own (one
failing does not stop the others), each with its headline latency:

1. STT: a bundled caller recording (``agent/demo/data/caller/phone.wav``, a
   caller giving a phone number, the case Deepgram's smart format holds back) is
   streamed in real time at the call's rate; at its end the client is asked for
   its final (``finalize()``, as the turn-taker does). Latency: from the end of
   the audio to the final transcript.
2. LLM: the configured company's system prompt and tools, and one question that
   needs a tool (a price, which the prompt allows only from ``get_quote``).
   Latency: from the request to the first token or tool call. A reply without a
   tool call fails: the agent could not book anything.
3. TTS: one sentence at the call's rate. Latency: from the text to the first
   audio.

A failure is reported in the vendor's own words (the provider client's error,
which carries the server's message). The configured provider alone is used: no
fallback voice or model stands in for it here. Everything comes from ``env``
(base URLs included), so the tests drive it against the loopback fakes.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, cast

import attrs
import trio

from agent.base.events import (
    AudioChunk,
    LlmEvent,
    Message,
    SttEvent,
    TextDelta,
    ToolCall,
    Transcript,
)
from agent.base.settings import Env
from agent.base.wav import read_wav
from agent.business.company import load_companies
from agent.dialogue.prompt import system_prompt
from agent.dialogue.tools import tool_specs
from agent.providers.llm.fallback import FallbackChain
from agent.providers.llm.offline_policy import OfflinePolicy
from agent.providers.llm.openai_compat import OpenAICompatibleLLM
from agent.providers.llm.openai_settings import LlmSettings
from agent.providers.registry import chosen, stt_factory, voice_factory
from agent.service.wiring import DEFAULT_COMPANIES

if TYPE_CHECKING:
    from agent.media.call import Call

__all__ = ["CALLER_WAV", "QUESTION", "SENTENCE", "Stage", "live_report", "run_live"]

CALLER_WAV = Path(str(files("agent.demo") / "data" / "caller" / "phone.wav"))
QUESTION = "Hi, how much do you charge to fix a leaking tap?"
SENTENCE = "Thanks for calling. A plumber can come tomorrow morning between eight and ten."
_TRAILING_SILENCE_S = 0.5  # after the recording, so the STT hears the caller stop


@attrs.frozen
class Stage:
    name: str  # "stt deepgram"
    ok: bool
    latency_ms: float | None
    detail: str  # what came back, or the first error in the vendor's words


@attrs.frozen
class _CheckCall:
    """What the provider factories read from a call: its rate and id."""

    sample_rate: int
    uuid: uuid.UUID = attrs.Factory(uuid.uuid4)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


async def run_live(
    env: Mapping[str, str] | None = None,
    *,
    timeout_s: float = 20.0,
    wav: Path = CALLER_WAV,
) -> list[Stage]:

    env = Env(env).snapshot()
    reader = Env(env)
    rate = reader.get("VOICE_AGENT_SAMPLE_RATE")
    call = cast("Call", _CheckCall(rate))
    stt, llm, tts = chosen(env)
    return [
        await _stage(f"stt {stt}", lambda: _stt_stage(env, stt, call, wav), timeout_s),
        await _stage(f"llm {llm}", lambda: _llm_stage(env, llm, call), timeout_s),
        await _stage(f"tts {tts}", lambda: _tts_stage(env, tts, call), timeout_s),
    ]


async def _stage(
    name: str, run: Callable[[], Awaitable[tuple[float, str]]], timeout_s: float
) -> Stage:
    try:
        with trio.fail_after(timeout_s):
            latency, detail = await run()
    except trio.TooSlowError:
        return Stage(name, False, None, f"no answer within {timeout_s:g} s")
    except Exception as exc:  # the provider's own words are the useful part
        return Stage(name, False, None, _reason(exc))
    return Stage(name, True, _ms(latency), detail)


def _reason(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
        exc = exc.exceptions[0]
    return str(exc) or type(exc).__name__


# --- STT --------------------------------------------------------------------------------


async def _stt_stage(env: Mapping[str, str], name: str, call: Call, wav: Path) -> tuple[float, str]:

    stt = stt_factory(name, env)(call)
    rate = call.sample_rate
    pcm = read_wav(wav, rate)
    frame = rate // 50 * 2  # 20 ms
    audio_send, audio_receive = trio.open_memory_channel[bytes](math.inf)
    out_send, out_receive = trio.open_memory_channel[SttEvent](math.inf)
    finals: list[tuple[float, Transcript]] = []
    audio_end = math.inf

    async def feed() -> None:
        nonlocal audio_end
        async with audio_send:
            speaking = getattr(stt, "caller_speaking", None)  # as the VAD would say
            if speaking is not None:
                speaking()
            for start in range(0, len(pcm), frame):
                audio_send.send_nowait(pcm[start : start + frame])
                await trio.sleep(0.02)
            audio_end = trio.current_time()
            stt.caller_pausing()
            stt.finalize()  # the caller is done, as the turn-taker would decide
            for _ in range(int(_TRAILING_SILENCE_S * 50)):
                audio_send.send_nowait(bytes(frame))
                await trio.sleep(0.02)

    async def collect() -> None:
        async for event in out_receive:
            if isinstance(event, Transcript) and event.is_final and event.text:
                finals.append((trio.current_time(), event))

    async def run_stt(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with out_send:
            await stt.run(audio_receive, out_send, task_status=task_status)

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(collect)
        await nursery.start(run_stt)  # returns once connected (a bad key fails here)
        connected = trio.current_time() - started
        nursery.start_soon(feed)
    if not finals:
        raise RuntimeError(f"no transcript came back for {wav.name}")
    text = " ".join(t.text for _, t in finals)
    heard_at = max((at for at, _ in finals), default=audio_end)
    latency = max(0.0, heard_at - audio_end)
    return (
        latency,
        f'final after the audio: "{text}" (session open in {_ms(connected):.0f} ms)',
    )


# --- LLM --------------------------------------------------------------------------------


def _company(env: Mapping[str, str]):

    reader = Env(env)
    path = reader.get("VOICE_AGENT_COMPANIES") if reader.is_set("VOICE_AGENT_COMPANIES") else None
    directory = load_companies(path or DEFAULT_COMPANIES)
    company = directory.get(directory.default_id) if directory.default_id else None
    if company is None:
        raise RuntimeError(f"{path or DEFAULT_COMPANIES}: no default company")
    return company


async def _llm_stage(env: Mapping[str, str], name: str, call: Call) -> tuple[float, str]:

    company = _company(env)
    model = _language_model(env, name, company, call)
    messages = [
        Message("system", system_prompt(company, tts_reads_brackets=False, now=time.time())),
        Message("user", QUESTION),
    ]
    send, receive = trio.open_memory_channel[LlmEvent](math.inf)
    first: float | None = None
    calls: list[ToolCall] = []
    text = ""
    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(model.run, messages, tool_specs(company), send)
        async for event in receive:
            if isinstance(event, (TextDelta, ToolCall)) and first is None:
                first = trio.current_time() - started
            if isinstance(event, ToolCall):
                calls.append(event)
            elif isinstance(event, TextDelta):
                text += event.text
    if not calls:
        said = text.strip()[:120] or "nothing"
        raise RuntimeError(f"answered without calling a tool (said: {said!r}); tools must work")
    done = ", ".join(f"{c.name}({c.arguments})" for c in calls)
    return first or 0.0, f"first token; called {done}"


def _language_model(env: Mapping[str, str], name: str, company, call: Call):
    """The configured model alone (no fallback provider stands in for it), with the
    one retry a vendor says helps, as in a call."""
    if name == "offline":
        return OfflinePolicy(company, call_uuid=str(call.uuid))

    settings = LlmSettings.from_env(env, provider=name)
    return FallbackChain([OpenAICompatibleLLM(settings)], first_token_budget_s=settings.timeout_s)


# --- TTS --------------------------------------------------------------------------------


async def _tts_stage(env: Mapping[str, str], name: str, call: Call) -> tuple[float, str]:

    tts = voice_factory(name, env)(call)  # the voice alone, no fallback
    text_send, text_receive = trio.open_memory_channel[str](1)
    out_send, out_receive = trio.open_memory_channel[AudioChunk](math.inf)
    audio = 0
    first: float | None = None
    async with trio.open_nursery() as nursery:
        await nursery.start(tts.run)
        started = trio.current_time()
        async with text_send:
            text_send.send_nowait(SENTENCE)
        async with out_send:
            await tts.speak(text_receive, out_send)
        async with out_receive:
            async for chunk in out_receive:
                if chunk.pcm and first is None:
                    first = trio.current_time() - started
                audio += len(chunk.pcm)
        nursery.cancel_scope.cancel()  # ends the session
    if not audio or first is None:
        raise RuntimeError("no audio came back")
    seconds = audio / (2 * call.sample_rate)
    return first, f"first audio; {seconds:.1f} s of audio at {call.sample_rate} Hz"


# --- report -----------------------------------------------------------------------------


def live_report(stages: list[Stage], sample_rate: int) -> str:
    width = max(len(s.name) for s in stages)
    lines = [
        f"Live round trip through the configured providers ({sample_rate} Hz):",
        f"{'stage':<{width}}  result   latency  detail",
    ]
    for s in stages:
        latency = f"{s.latency_ms:7.0f} ms" if s.latency_ms is not None else "       --"
        result = "OK  " if s.ok else "FAIL"
        lines.append(f"{s.name:<{width}}  {result}  {latency}  {s.detail}")
    failed = sum(not s.ok for s in stages)
    lines.append(f"{len(stages)} stages, {failed} failed")
    return "\n".join(lines)
