"""Provider names -> per-call factories.

Adding a provider touches its module, this registry and the settings schema
(``agent.base.settings``) only. The providers are the cloud ones unless the
configuration names others (``VOICE_AGENT_STT/LLM/TTS``) or asks for the whole
offline stack (``VOICE_AGENT_OFFLINE=1``): a missing key is an error where the
provider is built, never a quiet switch to a weaker provider. A cloud voice
gets the embedded one as its fallback when it is installed (``tts_fallbacks``),
so a TTS outage is heard as a plainer voice rather than silence.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from agent.base.errors import ConfigError
from agent.base.settings import LLM_NAMES, STT_NAMES, TTS_NAMES, Env

if TYPE_CHECKING:
    from agent.media.call import Call
    from agent.providers.protocols import LanguageModel, SpeechToText, TextToSpeech

__all__ = ["LLM_NAMES", "OFFLINE_NAMES", "STT_NAMES", "TTS_NAMES", "chosen", "tts_fallbacks"]

OFFLINE_NAMES = frozenset({"whisper", "offline", "espeak"})  # the embedded providers
CLOUD_TTS = ("cartesia", "elevenlabs")
TTS_FALLBACK_VAR = "VOICE_AGENT_TTS_FALLBACK"


def chosen(env: Mapping[str, str] | None) -> tuple[str, str, str]:
    """(stt, llm, tts): VOICE_AGENT_STT/LLM/TTS, else Deepgram, LLM_PROVIDER and
    Cartesia, or with VOICE_AGENT_OFFLINE=1 Whisper, the rule policy and espeak.
    Never by which keys happen to be set."""
    reader = Env.of(env)
    offline = reader.get("VOICE_AGENT_OFFLINE")
    stt = reader.get("VOICE_AGENT_STT") or ("whisper" if offline else "deepgram")
    llm = reader.get("VOICE_AGENT_LLM") or ("offline" if offline else reader.get("LLM_PROVIDER"))
    tts = reader.get("VOICE_AGENT_TTS") or ("espeak" if offline else "cartesia")
    return stt, llm, tts


def stt_factory(name: str, env: Mapping[str, str]) -> Callable[[Call], SpeechToText]:
    if name == "deepgram":
        from agent.providers.stt.deepgram import DeepgramStt
        from agent.providers.stt.deepgram_settings import DeepgramSettings

        settings = DeepgramSettings.from_env(env)
        return lambda call: DeepgramStt(settings, call.sample_rate)
    if name == "whisper":
        from agent.providers.stt.whisper import WhisperStt

        return lambda call: WhisperStt(call.sample_rate)
    raise ConfigError(f"unknown STT {name!r}; choose one of {', '.join(STT_NAMES)}")


def espeak_available() -> bool:
    """Whether the embedded espeak voice can be loaded here (the offline extra's
    ``espeakng-loader`` is installed). Found, not imported: the library is loaded
    only by a call that needs the voice."""
    return importlib.util.find_spec("espeakng_loader") is not None


def tts_fallbacks(env: Mapping[str, str] | None, primary: str) -> tuple[str, ...]:
    """The voices tried, in order, when ``primary`` fails: VOICE_AGENT_TTS_FALLBACK
    (comma list; ``none``: no fallback). Unset or empty: ``espeak`` behind a cloud
    voice when espeak is installed, else none."""
    reader = Env.of(env)
    names = reader.get(TTS_FALLBACK_VAR)
    if names is None:
        return ("espeak",) if primary in CLOUD_TTS and espeak_available() else ()
    for index, name in enumerate(names):
        if name == "none":
            if len(names) == 1:
                return ()
            problem = "'none' cannot be combined with voices"
        elif name == primary:
            problem = f"{name!r} is the primary voice (VOICE_AGENT_TTS) already"
        elif name in names[:index]:
            problem = f"{name!r} is listed twice"
        else:
            continue
        raise ConfigError(f"{TTS_FALLBACK_VAR}={reader.text(TTS_FALLBACK_VAR)!r}: {problem}")
    return names


def tts_factory(name: str, env: Mapping[str, str]) -> Callable[[Call], TextToSpeech]:
    """The call's TTS: voice ``name`` alone, or a ``FallbackTts`` over it and its
    fallbacks (``tts_fallbacks``). Every voice's settings are checked here, at
    start-up; each call gets its own sessions, all at the call's rate."""
    primary = voice_factory(name, env)
    fallbacks = tts_fallbacks(env, name)
    if not fallbacks:
        return primary
    try:
        makers = [primary, *(voice_factory(fallback, env) for fallback in fallbacks)]
    except ConfigError as exc:
        raise ConfigError(f"{TTS_FALLBACK_VAR} ({', '.join(fallbacks)}): {exc}") from exc
    from agent.providers.tts.fallback import FallbackTts

    return lambda call: FallbackTts([make(call) for make in makers])


def voice_factory(name: str, env: Mapping[str, str]) -> Callable[[Call], TextToSpeech]:
    """One voice, no fallback."""
    if name == "cartesia":
        from agent.providers.tts.cartesia import CartesiaTts
        from agent.providers.tts.cartesia_wire import CartesiaSettings

        settings = CartesiaSettings.from_env(env)
        return lambda call: CartesiaTts(settings, call.sample_rate)
    if name == "elevenlabs":
        from agent.providers.tts.elevenlabs import ElevenLabsTts
        from agent.providers.tts.elevenlabs_wire import ElevenLabsSettings

        settings = ElevenLabsSettings.from_env(env)
        return lambda call: ElevenLabsTts(settings, call.sample_rate)
    if name == "espeak":
        from agent.providers.tts.espeak import EspeakTts

        return lambda call: EspeakTts(call.sample_rate)
    raise ConfigError(f"unknown TTS {name!r}; choose one of {', '.join(TTS_NAMES)}")


def llm_factory(
    name: str,
    env: Mapping[str, str],
    *,
    company_for: Callable[[Call], object],
    shared: object | None = None,
) -> Callable[[Call], LanguageModel]:
    """``shared``: an ``openai_compat.SharedClient`` the service keeps open (pooled
    connections for every call)."""
    if name == "offline":
        from agent.providers.llm.offline_policy import OfflinePolicy

        return lambda call: OfflinePolicy(company_for(call), call_uuid=str(call.uuid))
    if name in LLM_NAMES:
        from agent.providers.llm.openai_compat import language_model_from_env

        model = language_model_from_env(env, shared=shared, provider=name)  # type: ignore[arg-type]
        return lambda call: model
    raise ConfigError(f"unknown LLM {name!r}; choose one of {', '.join(LLM_NAMES)}")
