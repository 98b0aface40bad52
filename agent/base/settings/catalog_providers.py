"""The declarations of the cloud providers' variables (the vendors' usual names):
Deepgram, the OpenAI-compatible language models, Cartesia and ElevenLabs."""

from __future__ import annotations

from agent.base.settings.catalog_service import LLM_PRESET_NAMES
from agent.base.settings.kinds import Bool, Choice, Float, Int, Secret, Text, Url, Words
from agent.base.settings.schema import Pattern, Setting

DEEPGRAM, LLM, CARTESIA, ELEVENLABS = "stt/deepgram", "llm", "tts/cartesia", "tts/elevenlabs"
# Not starting with '#' or a quote: an inline comment or a stray quote in an env file.
VOICE_ID = Text(r"[^#'\"\s](.*\S)?", "a voice id (not starting with # or a quote)")
NAME = Text(r"\S+", "a name without spaces")
KEYWORD = Text(r"[^:,]+(:[+-]?[0-9]+(\.[0-9]+)?)?", "WORD or WORD:BOOST")
CARTESIA_VERSION = "2026-08-14"  # pinned: see agent/providers/tts/cartesia_wire.py

SETTINGS = (
    # --- stt/deepgram -------------------------------------------------------------------
    Setting("DEEPGRAM_API_KEY", Secret(), None, "Deepgram API key", DEEPGRAM,
            required_for="Deepgram, the default speech-to-text"),
    Setting("DEEPGRAM_URL", Url(("ws", "wss")), "wss://api.deepgram.com/v1/listen",
            "Deepgram live endpoint (no query string: the settings make it)", DEEPGRAM),
    Setting("DEEPGRAM_MODEL", NAME, "nova-3", "model", DEEPGRAM),
    Setting("DEEPGRAM_LANGUAGE", NAME, "en-GB", "language", DEEPGRAM),
    Setting("DEEPGRAM_INTERIM_RESULTS", Bool(), True, "send interim transcripts", DEEPGRAM),
    Setting("DEEPGRAM_ENDPOINTING_MS", Int(0, 60_000), 400,
            "silence after which Deepgram marks speech final (0: endpointing off)",
            DEEPGRAM, unit="ms"),
    Setting("DEEPGRAM_UTTERANCE_END_MS", Int(0, 60_000), 1000,
            "word gap for UtteranceEnd (0: none; needs interim results)", DEEPGRAM, unit="ms"),
    Setting("DEEPGRAM_VAD_EVENTS", Bool(), True, "send SpeechStarted events", DEEPGRAM),
    Setting("DEEPGRAM_SMART_FORMAT", Bool(), True, "format numbers, dates and the like",
            DEEPGRAM),
    Setting("DEEPGRAM_NO_DELAY", Bool(), False,
            "smart format: finalize at once, not after a possible entity (loses formatting)",
            DEEPGRAM),
    Setting("DEEPGRAM_PUNCTUATE", Bool(), True,
            "punctuate transcripts (not sent with smart format, which includes it)", DEEPGRAM),
    Setting("DEEPGRAM_KEYTERMS", Words(), (),
            "nova-3 vocabulary (postcodes, trade words)", DEEPGRAM),
    Setting("DEEPGRAM_KEYWORDS", Words(item=KEYWORD, noun="keyword"), (),
            "nova-2 and older: boosted words", DEEPGRAM),
    Setting("DEEPGRAM_KEEPALIVE_S", Float(0.1, 9), 4.0,
            "KeepAlive interval while no audio is sent (Deepgram closes after ~10 s)",
            DEEPGRAM, unit="s"),
    Setting("DEEPGRAM_RECONNECT_INITIAL_S", Float(0.01, 60), 0.25,
            "first pause before reconnecting after a drop", DEEPGRAM, unit="s"),
    Setting("DEEPGRAM_RECONNECT_MAX_S", Float(0.01, 300), 4.0,
            "longest pause between reconnection attempts", DEEPGRAM, unit="s"),
    Setting("DEEPGRAM_RECONNECT_ATTEMPTS", Int(0, 100), 5,
            "failed connection attempts in a row before the call's STT gives up", DEEPGRAM),
    Setting("DEEPGRAM_MAX_BUFFER_S", Float(0.1, 600), 10.0,
            "caller audio kept for replay after a drop (none is lost up to this)",
            DEEPGRAM, unit="s"),
    Setting("DEEPGRAM_CONNECT_TIMEOUT_S", Float(0.1, 120), 5.0, "connection timeout", DEEPGRAM,
            unit="s"),
    Setting("DEEPGRAM_CLOSE_TIMEOUT_S", Float(0.1, 120), 3.0,
            "after CloseStream, wait for the last results", DEEPGRAM, unit="s"),
    Setting("DEEPGRAM_BATCH_MS", Int(20, 250), 100,
            "caller audio per message while the caller talks (quiet: 240; 20: every frame alone)",
            DEEPGRAM, unit="ms"),
    # --- llm ----------------------------------------------------------------------------
    Setting("LLM_PROVIDER", Choice(LLM_PRESET_NAMES), "groq",
            "OpenAI-compatible preset (URL, model, key variable, quirks)", LLM),
    Setting("LLM_API_KEY", Secret(), None,
            "key for LLM_PROVIDER, instead of its own variable", LLM),
    Setting("GROQ_API_KEY", Secret(), None, "Groq API key", LLM,
            required_for="Groq, the default language model"),
    Setting("CEREBRAS_API_KEY", Secret(), None, "Cerebras API key", LLM),
    Setting("OPENAI_API_KEY", Secret(), None, "OpenAI API key", LLM),
    Setting("LLM_BASE_URL", Url(("http", "https")), None, "endpoint", LLM,
            default_doc="the preset's (groq: https://api.groq.com/openai/v1)"),
    Setting("LLM_MODEL", NAME, None, "model", LLM,
            default_doc="the preset's (groq: openai/gpt-oss-20b)"),
    Setting("LLM_REASONING_EFFORT", Text(r"[a-z_]+", "auto, omit or a level such as low"),
            "auto", "reasoning effort (auto: the fastest for the model; omit: send none)", LLM),
    Setting("LLM_FALLBACKS", Words(LLM_PRESET_NAMES, noun="LLM provider"), (),
            "presets tried in order when the model fails (each with its own key)", LLM),
    Setting("LLM_TEMPERATURE", Float(0, 2), 0.3, "sampling temperature", LLM),
    Setting("LLM_MAX_TOKENS", Int(1, 131_072), 512, "cap on one reply's tokens", LLM),
    Setting("LLM_TIMEOUT_S", Float(0.001, 600), 10.0,
            "longest wait for bytes (so also for the first token)", LLM, unit="s",
            old_names=("LLM_TIMEOUT",)),
    Setting("LLM_CONNECT_TIMEOUT_S", Float(0.001, 120), 3.0, "connection timeout", LLM,
            unit="s", old_names=("LLM_CONNECT_TIMEOUT",)),
    # --- tts/cartesia -------------------------------------------------------------------
    Setting("CARTESIA_API_KEY", Secret(), None, "Cartesia API key", CARTESIA,
            required_for="Cartesia, the default text-to-speech"),
    Setting("CARTESIA_VOICE_ID", VOICE_ID, None, "voice", CARTESIA,
            required_for="Cartesia"),
    Setting("CARTESIA_URL", Url(("ws", "wss")), "wss://api.cartesia.ai/tts/websocket",
            "WebSocket endpoint", CARTESIA),
    Setting("CARTESIA_VERSION", Text(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "a date like 2026-08-14"),
            CARTESIA_VERSION, "API version (pinned: defaults change between versions)",
            CARTESIA),
    Setting("CARTESIA_MODEL", NAME, "sonic-3", "model", CARTESIA),
    Setting("CARTESIA_LANGUAGE", NAME, "en", "language", CARTESIA),
    Setting("CARTESIA_MAX_BUFFER_DELAY_MS", Int(0, 5000), 300,
            "how long the server may gather streamed text into a phrase", CARTESIA, unit="ms"),
    Setting("CARTESIA_TIMESTAMPS", Bool(), True,
            "ask for word timestamps (what was heard before a barge-in)", CARTESIA),
    Setting("CARTESIA_CONNECT_TIMEOUT_S", Float(0.01, 120), 5.0, "connection timeout",
            CARTESIA, unit="s"),
    Setting("CARTESIA_RESPONSE_TIMEOUT_S", Float(0.01, 120), 5.0,
            "no answer this long after text was sent: the turn fails", CARTESIA, unit="s"),
    # --- tts/elevenlabs -----------------------------------------------------------------
    Setting("ELEVENLABS_API_KEY", Secret(), None, "ElevenLabs API key", ELEVENLABS),
    Setting("ELEVENLABS_VOICE_ID", VOICE_ID, None, "voice", ELEVENLABS),
    Setting("ELEVENLABS_MODEL", NAME, "eleven_flash_v2_5", "model", ELEVENLABS),
    Setting("ELEVENLABS_URL", Url(("ws", "wss"), bare=True), "wss://api.elevenlabs.io",
            "server (the path is made from the voice)", ELEVENLABS),
    Setting("ELEVENLABS_SPEED", Float(0.7, 1.2), 1.0, "speaking speed", ELEVENLABS),
    Setting("ELEVENLABS_INACTIVITY_TIMEOUT_S", Int(1, 180), 20,
            "the server closes a stream idle this long", ELEVENLABS, unit="s"),
    Setting("ELEVENLABS_CONNECT_TIMEOUT_S", Float(0.01, 120), 5.0, "connection timeout",
            ELEVENLABS, unit="s"),
    Setting("ELEVENLABS_RESPONSE_TIMEOUT_S", Float(0.01, 120), 5.0,
            "no answer this long after text was sent: the turn fails", ELEVENLABS, unit="s"),
)  # fmt: skip

_FALLBACK_NAMES = tuple(name.upper() for name in LLM_PRESET_NAMES)
PATTERNS = (
    Pattern("LLM_FALLBACK_{NAME}_BASE_URL", _FALLBACK_NAMES, Url(("http", "https")),
            "a fallback's own endpoint (a self-hosted vLLM...)", LLM,
            default_doc="the preset's"),
    Pattern("LLM_FALLBACK_{NAME}_MODEL", _FALLBACK_NAMES, NAME,
            "a fallback's own model", LLM, default_doc="the preset's"),
)  # fmt: skip
