"""Provider names -> per-call factories.

Adding a provider touches its module, this registry and the README's config
table only. With no key for a cloud provider the embedded one is chosen, so a
machine with no keys still answers calls.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from agent.errors import ConfigError

if TYPE_CHECKING:
    from agent.call import Call
    from agent.providers.protocols import LanguageModel, SpeechToText, TextToSpeech

STT_NAMES = ("deepgram", "whisper")
TTS_NAMES = ("cartesia", "elevenlabs", "espeak")
LLM_NAMES = ("offline", "groq", "cerebras", "openai", "ollama", "llamacpp", "vllm")


def chosen(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(stt, llm, tts) from VOICE_AGENT_STT/LLM/TTS, else by which keys are set."""
    stt = env.get("VOICE_AGENT_STT") or ("deepgram" if env.get("DEEPGRAM_API_KEY") else "whisper")
    has_llm_key = any(
        env.get(k) for k in ("LLM_API_KEY", "GROQ_API_KEY", "CEREBRAS_API_KEY", "OPENAI_API_KEY")
    )
    llm = env.get("VOICE_AGENT_LLM") or (
        env.get("LLM_PROVIDER", "groq") if has_llm_key else "offline"
    )
    tts = env.get("VOICE_AGENT_TTS") or ("cartesia" if env.get("CARTESIA_API_KEY") else "espeak")
    for kind, name, names in (
        ("STT", stt, STT_NAMES),
        ("LLM", llm, LLM_NAMES),
        ("TTS", tts, TTS_NAMES),
    ):
        if name not in names:
            raise ConfigError(f"VOICE_AGENT_{kind}={name!r}: choose one of {', '.join(names)}")
    return stt, llm, tts


def stt_factory(name: str, env: Mapping[str, str]) -> Callable[[Call], SpeechToText]:
    if name == "deepgram":
        from agent.providers.deepgram import DeepgramStt
        from agent.providers.deepgram_wire import DeepgramSettings

        settings = DeepgramSettings.from_env(env)
        return lambda call: DeepgramStt(settings, call.sample_rate)
    if name == "whisper":
        from agent.providers.whisper import WhisperStt

        return lambda call: WhisperStt(call.sample_rate)
    raise ConfigError(f"unknown STT {name!r}; choose one of {', '.join(STT_NAMES)}")


def tts_factory(name: str, env: Mapping[str, str]) -> Callable[[Call], TextToSpeech]:
    if name == "cartesia":
        from agent.providers.cartesia import CartesiaTts
        from agent.providers.cartesia_wire import CartesiaSettings

        settings = CartesiaSettings.from_env(env)
        return lambda call: CartesiaTts(settings, call.sample_rate)
    if name == "elevenlabs":
        from agent.providers.elevenlabs import ElevenLabsTts
        from agent.providers.elevenlabs_wire import ElevenLabsSettings

        settings = ElevenLabsSettings.from_env(env)
        return lambda call: ElevenLabsTts(settings, call.sample_rate)
    if name == "espeak":
        from agent.providers.espeak import EspeakTts

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
        from agent.providers.offline_policy import OfflinePolicy

        return lambda call: OfflinePolicy(company_for(call), call_uuid=str(call.uuid))
    if name in LLM_NAMES:
        from agent.providers.openai_compat import language_model_from_env

        merged = {**env, "LLM_PROVIDER": name}
        model = language_model_from_env(merged, shared=shared)  # type: ignore[arg-type]
        return lambda call: model
    raise ConfigError(f"unknown LLM {name!r}; choose one of {', '.join(LLM_NAMES)}")
