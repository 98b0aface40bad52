"""The declarations of the service's own variables (``VOICE_AGENT_*``): the
AudioSocket server, Asterisk/FastAGI, the conversation's choices, bookings,
observability, logging, and the two variables the agent sets for libraries."""

from __future__ import annotations

from agent.base.settings.kinds import (
    Bool,
    Choice,
    EnvName,
    FilePath,
    Float,
    Host,
    Int,
    Port,
    Secret,
    Text,
    Url,
    Words,
)
from agent.base.settings.schema import Category, Setting

# The words some settings choose from; the rooms that act on them import them from here.
SAMPLE_RATES = (8000, 12000, 16000, 24000, 32000, 44100, 48000, 96000, 192000)
BRAINS = ("echo", "conversation")
STT_NAMES = ("deepgram", "whisper")
LLM_PRESET_NAMES = ("groq", "cerebras", "openai", "ollama", "llamacpp", "vllm")
LLM_NAMES = ("offline", *LLM_PRESET_NAMES)
TTS_NAMES = ("cartesia", "elevenlabs", "espeak")
FALLBACK_ACTIONS = ("transfer", "voicemail", "hangup")
LOG_FORMATS = ("auto", "json", "text")
CONSENT_MODES = ("talk-over", "strict")
DAY_S = 86400.0

SERVER, PBX, CONVERSATION, BOOKING = "server", "pbx", "conversation", "booking"
OBSERVE, LOGGING, OFFLINE = "observe", "logging", "offline"

SETTINGS = (
    # --- server: the AudioSocket server -------------------------------------------------
    Setting("VOICE_AGENT_HOST", Host(), "127.0.0.1", "AudioSocket listen address", SERVER),
    Setting("VOICE_AGENT_PORT", Port(zero="any free port"), 9099,
            "AudioSocket listen port", SERVER),
    Setting("VOICE_AGENT_SAMPLE_RATE", Int(8000, 192000, SAMPLE_RATES), 8000,
            "call audio rate (Asterisk's AudioSocket() application always sends 8000)",
            SERVER, unit="Hz"),
    Setting("VOICE_AGENT_UUID_TIMEOUT_S", Float(0.01, 60), 2.0,
            "a connection that has sent no UUID by then is closed", SERVER, unit="s"),
    Setting("VOICE_AGENT_MAX_CALL_S", Float(1, DAY_S), 3600.0,
            "hard cap on one call's length", SERVER, unit="s"),
    Setting("VOICE_AGENT_IDLE_TIMEOUT_S", Float(0.1, 600), 5.0,
            "an identified peer that sends nothing for this long is hung up (Asterisk sends"
            " every 20 ms)", SERVER, unit="s"),
    Setting("VOICE_AGENT_AUDIO_BURST_S", Float(0.1, 60), 2.0,
            "caller audio beyond real time plus this burst is dropped (a flooding peer)",
            SERVER, unit="s"),
    Setting("VOICE_AGENT_MAX_CONNECTIONS", Int(0, 100_000), None,
            "open AudioSocket connections; above it one is closed at once (0: no limit)",
            SERVER, default_doc="VOICE_AGENT_MAX_CALLS + 10 (0 when that is 0)"),
    Setting("VOICE_AGENT_CLEANUP_TIMEOUT_S", Float(0.01, 60), 2.0,
            "time given to a call's cleanup (provider close, goodbye) after it ends",
            SERVER, unit="s"),
    Setting("VOICE_AGENT_BRAIN", Choice(BRAINS), "conversation",
            "what answers calls when serve has no --brain: the receptionist, or echo"
            " (a line test)", SERVER),
    Setting("VOICE_AGENT_WORKERS", Int(1, 256), 1,
            "worker processes sharing the AudioSocket port (as serve --workers)", SERVER),
    # --- pbx: Asterisk, FastAGI, limits, shutdown ---------------------------------------
    Setting("VOICE_AGENT_AGI_HOST", Host(), "127.0.0.1", "FastAGI listen address", PBX),
    Setting("VOICE_AGENT_AGI_PORT", Port(zero="any free port"), 4573,
            "FastAGI listen port", PBX),
    Setting("VOICE_AGENT_AGI_TIMEOUT_S", Float(0.01, 300), 5.0,
            "wait for each line from Asterisk in an AGI session", PBX, unit="s"),
    Setting("VOICE_AGENT_AGI_SESSION_S", Float(0.1, 600), 10.0,
            "the longest one FastAGI session may last, whatever Asterisk sends", PBX, unit="s"),
    Setting("VOICE_AGENT_AGI_MAX_SESSIONS", Int(1, 100_000), 100,
            "concurrent FastAGI sessions; above it a connection is closed at once", PBX),
    Setting("VOICE_AGENT_MAX_CALLS", Int(0, 100_000), 25,
            "calls per process (worker); above it setup answers busy (0: no limit)", PBX,
            default_doc="25, what one worker kept in time in bench/load.py (docs/performance.md)"),
    Setting("VOICE_AGENT_FALLBACK_ACTION", Choice(FALLBACK_ACTIONS), "voicemail",
            "what next tells the dialplan when the call decided nothing (an error, a crash,"
            " the time limit)", PBX),
    Setting("VOICE_AGENT_REQUIRE_SETUP", Bool(), False,
            "only UUIDs issued by the AGI setup step may connect", PBX),
    Setting("VOICE_AGENT_HOST_NAME", Text(r"[A-Za-z0-9_.:-]{1,64}", "letters, digits, . _ : -"),
            None, "this agent host's name in the shared store's host registry", PBX,
            default_doc="the machine's host name"),
    Setting("VOICE_AGENT_ADVERTISE_ADDR",
            Text(r"[A-Za-z0-9_.:\[\]-]{1,253}:[0-9]{1,5}", "host:port"), None,
            "the AudioSocket address other hosts send calls to (setup's VOICE_AGENT_ADDR)",
            PBX, default_doc="VOICE_AGENT_HOST:VOICE_AGENT_PORT"),
    Setting("VOICE_AGENT_HEARTBEAT_S", Float(0.05, 600), 2.0,
            "how often a host writes its load to the host registry (PostgreSQL store)",
            PBX, unit="s"),
    Setting("VOICE_AGENT_HOST_DEAD_AFTER_S", Float(0.1, DAY_S), 10.0,
            "a host silent this long gets no calls and its unfinished calls are closed",
            PBX, unit="s"),
    Setting("VOICE_AGENT_DRAIN_S", Float(0, DAY_S), 300.0,
            "on SIGTERM, how long calls may go on by themselves (keep below TimeoutStopSec)",
            PBX, unit="s"),
    Setting("VOICE_AGENT_GOODBYE_S", Float(0, 600), 10.0,
            "then, how long the goodbye gets before the remaining calls are hung up",
            PBX, unit="s"),
    Setting("VOICE_AGENT_NEXT_GRACE_S", Float(0, 600), 5.0,
            "after the last call, how long FastAGI waits for the dialplan's next steps",
            PBX, unit="s"),
    # --- conversation: providers and companies -----------------------------------------
    Setting("VOICE_AGENT_OFFLINE", Bool(), False,
            "the offline stack for every role: Whisper tiny.en, the rule policy, espeak-ng"
            " (no keys; not for production)", CONVERSATION),
    Setting("VOICE_AGENT_STT", Choice(STT_NAMES), None,
            "speech-to-text provider", CONVERSATION,
            default_doc="deepgram (whisper with VOICE_AGENT_OFFLINE=1)"),
    Setting("VOICE_AGENT_LLM", Choice(LLM_NAMES), None,
            "language model: an LLM_PROVIDER preset, or offline (the rule policy)", CONVERSATION,
            default_doc="LLM_PROVIDER (offline with VOICE_AGENT_OFFLINE=1)"),
    Setting("VOICE_AGENT_TTS", Choice(TTS_NAMES), None,
            "text-to-speech provider", CONVERSATION,
            default_doc="cartesia (espeak with VOICE_AGENT_OFFLINE=1)"),
    Setting("VOICE_AGENT_TTS_FALLBACK", Words((*TTS_NAMES, "none"), noun="TTS"), None,
            "voices tried in order when the TTS fails; none: no fallback",
            CONVERSATION,
            default_doc="espeak behind cartesia or elevenlabs when the offline extra is"
            " installed"),
    Setting("VOICE_AGENT_WHISPER_VOCABULARY", Bool(), False,
            "Whisper's initial prompt: the company's name, services and districts",
            CONVERSATION),
    Setting("VOICE_AGENT_CONSENT", Choice(CONSENT_MODES), "talk-over",
            "talk-over: a sentence begun over the disclosure reaches the STT whole;"
            " strict: none of it", CONVERSATION),
    Setting("VOICE_AGENT_COMPANIES", FilePath(), None,
            "companies file (JSON): greeting, hours, prices, area, transfers per DID",
            CONVERSATION, default_doc="the bundled example company (a warning)"),
    Setting("VOICE_AGENT_CONTEXT_URL", Url(("http", "https")), None,
            "company context API (GET {url}/companies/{did}); unset: the companies file only",
            CONVERSATION),
    Setting("VOICE_AGENT_CONTEXT_KEY_ENV", EnvName(), None,
            "name of the variable holding the context API's Bearer key", CONVERSATION),
    Setting("VOICE_AGENT_CONTEXT_TTL_S", Float(0, DAY_S), 300.0,
            "how long a fetched company profile is used before it is refreshed",
            CONVERSATION, unit="s"),
    Setting("VOICE_AGENT_CA_FILE", FilePath(), None,
            "PEM file of extra certificate authorities that provider connections trust"
            " besides the system's",
            CONVERSATION),
    # --- booking ----------------------------------------------------------------------
    Setting("VOICE_AGENT_DB", FilePath(), "voice-agent.sqlite3",
            "the agent's store: a SQLite file, or postgresql://user@host:port/db that"
            " several agent hosts share",
            BOOKING),
    Setting("VOICE_AGENT_DB_POOL_SIZE", Int(1, 200), 4,
            "connections per process to a PostgreSQL VOICE_AGENT_DB", BOOKING),
    Setting("VOICE_AGENT_OUTBOX_LEASE_S", Float(0.5, 3600), 20.0,
            "an outbox row a dead worker held is retried by another after this (keep it"
            " above the booking API's timeouts)", BOOKING, unit="s"),
    # --- observe: records, metrics, recordings, cost -------------------------------------
    Setting("VOICE_AGENT_RECORDS_PATH", FilePath(), None,
            "SQLite file of the call records", OBSERVE, default_doc="VOICE_AGENT_DB"),
    Setting("VOICE_AGENT_RECORDS_URL", Url(("postgresql", "postgres"), query=True), None,
            "PostgreSQL for the call records instead (postgresql://...)", OBSERVE),
    Setting("VOICE_AGENT_RECORDS_RETENTION_DAYS", Float(0, 36500), 90.0,
            "records and recordings older than this are purged", OBSERVE, unit="days"),
    Setting("VOICE_AGENT_PURGE_INTERVAL_S", Float(1, 30 * DAY_S), 3600.0,
            "how often the purge runs", OBSERVE, unit="s"),
    Setting("VOICE_AGENT_RECORDING", Bool(), False,
            "record both legs of every call (WAV)", OBSERVE),
    Setting("VOICE_AGENT_RECORDINGS_DIR", FilePath(), "recordings",
            "where the recordings go", OBSERVE),
    Setting("VOICE_AGENT_METRICS_HOST", Host(), "127.0.0.1",
            "Prometheus exporter listen address", OBSERVE),
    Setting("VOICE_AGENT_METRICS_PORT", Port(zero="no exporter"), 9102,
            "Prometheus exporter port", OBSERVE),
    Setting("VOICE_AGENT_PRICE_STT_PER_MIN", Float(0, 1000), 0.0,
            "speech-to-text price, for the cost per call", OBSERVE, unit="currency/min"),
    Setting("VOICE_AGENT_PRICE_LLM_INPUT_PER_MTOK", Float(0, 10_000), 0.0,
            "language model input price", OBSERVE, unit="currency/1M tokens"),
    Setting("VOICE_AGENT_PRICE_LLM_OUTPUT_PER_MTOK", Float(0, 10_000), 0.0,
            "language model output price", OBSERVE, unit="currency/1M tokens"),
    Setting("VOICE_AGENT_PRICE_TTS_PER_1K_CHARS", Float(0, 10_000), 0.0,
            "text-to-speech price", OBSERVE, unit="currency/1k characters"),
    Setting("VOICE_AGENT_CURRENCY", Text(r"[A-Z]{3}", "a three-letter code like USD"), "USD",
            "the currency of the prices", OBSERVE),
    Setting("VOICE_AGENT_CONSOLE_PORT", Port(zero="no console"), 0,
            "operator console (web pages of calls, bookings, live calls, latency) port",
            OBSERVE),
    Setting("VOICE_AGENT_CONSOLE_HOST", Host(), "127.0.0.1",
            "operator console listen address (beyond loopback only with a token)", OBSERVE),
    Setting("VOICE_AGENT_CONSOLE_TOKEN", Secret(), None,
            "operator console access token (Authorization: Bearer, or the login form)",
            OBSERVE),
    Setting("VOICE_AGENT_CONSOLE_SHOW_CALLERS", Bool(), False,
            "show callers' numbers in full in the console (masked by default)", OBSERVE),
    Setting("PROMETHEUS_MULTIPROC_DIR", FilePath(), None,
            "set by serve --workers for prometheus-client (the workers' metric files)",
            OBSERVE, written=True),
    # --- logging ------------------------------------------------------------------------
    Setting("VOICE_AGENT_LOG_FORMAT", Choice(LOG_FORMATS), "auto",
            "log lines as json, text, or auto (text on a terminal, JSON otherwise)", LOGGING),
    # --- offline ------------------------------------------------------------------------
    Setting("HF_HUB_OFFLINE", Bool(), None,
            "set to 1 by the agent before loading Whisper: the Hugging Face hub is never asked",
            OFFLINE, written=True),
)  # fmt: skip

CATEGORIES = (
    Category("booking API key", "booking_api.key_env in the companies file", Secret(),
             "a company's booking API Bearer key, in the variable its entry names", BOOKING),
    Category("context API key", "VOICE_AGENT_CONTEXT_KEY_ENV", Secret(),
             "the company context API's Bearer key, in the variable named there", CONVERSATION),
)  # fmt: skip
